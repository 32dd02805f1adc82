"""Real bridges on 127.0.0.1 (random free ports) shared by the bridge integration tests."""

from __future__ import annotations

import secrets

import pytest
from bridge_helpers import MAX_BODY_MB, MAX_QUBITS, MAX_SHOTS, TIMEOUT_S
from helpers.bridge import BridgeProcess


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
        "--body-timeout-s", "2",
        api_key=key, name="shared",
    ).start()
    yield server
    server.stop()
