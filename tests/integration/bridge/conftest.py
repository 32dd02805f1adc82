"""Real bridges on 127.0.0.1 (random free ports) shared by the bridge integration tests."""

from __future__ import annotations

import secrets

import pytest
from bridge_helpers import BridgeProcess

#: Limits of the shared test bridge (small, so the limit cases are cheap to hit).
MAX_QUBITS = 12
MAX_SHOTS = 100_000
MAX_BODY_MB = 1
TIMEOUT_S = 3


@pytest.fixture(scope="session")
def bridge_log_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bridge-logs")


@pytest.fixture(scope="session")
def bridge(bridge_log_dir):
    """One keyed bridge with 2 workers, a 3 s timeout and small limits."""
    key = "qcos-test-" + secrets.token_hex(16)
    server = BridgeProcess(
        bridge_log_dir, "--workers", "2", "--max-qubits", str(MAX_QUBITS), "--max-shots", str(MAX_SHOTS),
        "--max-body-mb", str(MAX_BODY_MB), "--timeout-s", str(TIMEOUT_S), "--max-batch", "500",
        api_key=key, name="shared",
    ).start()
    yield server
    server.stop()
