"""Shared test setup: global registry isolation, SIGINT for tests that need it, the real services.

Helpers (``skip_or_fail``, ``wait_for``, ``free_port``, the services) live in ``tests/helpers/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.services import SlurmService, SSHServer, start_slurm, start_sshd, stop_slurm, stop_sshd

from qcos.providers.registry import NodeProviderRegistry


@pytest.fixture(autouse=True)
def _restore_provider_registry() -> Iterator[None]:
    """Each test sees the registry as it was before (registrations do not leak)."""
    snapshot = NodeProviderRegistry._snapshot()
    yield
    NodeProviderRegistry._restore(snapshot)


@pytest.fixture
def sigint_handler() -> Iterator[None]:
    """Ctrl-C works in this test (and in the processes it starts) however the suite was started.

    A background job of a non-interactive shell (``make test &`` in a script, some CI runners)
    starts with SIGINT ignored; then ``_thread.interrupt_main()`` does nothing and children
    inherit the ignore. Installing Python's handler here fixes both: exec'd children get the
    default disposition back and install their own KeyboardInterrupt handler.
    """
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def slurm_service() -> Iterator[SlurmService]:
    """A real single-node Slurm (tests/services/slurm-up.sh), reused when running.

    Stopped at the end only if this session started it and ``QCOS_KEEP_SLURM=1`` is not set.
    """
    service = start_slurm()
    yield service
    stop_slurm(service)


@pytest.fixture
def faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The Slurm tasks' test-fault folder (``fail-N``, ``hang-N``... files; the jobs inherit the environment)."""
    from qcos.providers.slurm.task import FAULTS_ENV

    folder = tmp_path / "faults"
    folder.mkdir()
    monkeypatch.setenv(FAULTS_ENV, str(folder))
    return folder


@pytest.fixture(scope="session")
def sshd() -> Iterator[SSHServer]:
    """A private OpenSSH sshd on 127.0.0.1 (tests/services/sshd-up.sh), stopped by pid afterwards."""
    server = start_sshd()
    try:
        yield server
    finally:
        stop_sshd(server)
