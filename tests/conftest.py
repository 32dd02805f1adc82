"""Shared test setup: global registry isolation and the service-requirement switch."""

from __future__ import annotations

import os

import pytest

from qcos.providers.registry import NodeProviderRegistry

#: Set by .ci/run: a test that needs sshd or Slurm must fail, not skip, when they are missing.
REQUIRE_SERVICES = os.environ.get("QCOS_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason``, or fail when CI demands every service-backed test runs."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (QCOS_REQUIRE_SERVICES=1: services are required here)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _restore_provider_registry():
    """Each test sees the registry as it was before (registrations do not leak)."""
    snapshot = NodeProviderRegistry._snapshot()
    yield
    NodeProviderRegistry._restore(snapshot)


@pytest.fixture
def sigint_handler():
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
