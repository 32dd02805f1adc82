"""Helpers every test directory shares: the skip-or-fail switch, waiting on events, free ports.

Importable as ``helpers`` from any test (pytest puts ``tests/`` on ``sys.path`` for the root
conftest); the real services live in :mod:`helpers.services`, /proc utilities in
:mod:`helpers.processes`.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import NoReturn, TypeVar

import pytest

T = TypeVar("T")

#: Set by .ci/run: a test that needs sshd or Slurm (or curl...) must fail, not skip, when it is missing.
REQUIRE_SERVICES_ENV = "QCOS_REQUIRE_SERVICES"


def services_required() -> bool:
    """True when the environment demands that every service-backed test runs (CI)."""
    return os.environ.get(REQUIRE_SERVICES_ENV) == "1"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail when ``QCOS_REQUIRE_SERVICES=1`` demands every service-backed test runs."""
    if services_required():
        pytest.fail(f"{reason} ({REQUIRE_SERVICES_ENV}=1: services are required here)")
    pytest.skip(reason)


def wait_for(predicate: Callable[[], T], timeout_s: float = 180.0, what: str = "the condition",
             interval_s: float = 0.05) -> T:
    """Poll ``predicate`` until it returns something truthy and return that; fail after ``timeout_s``.

    Deadlines are generous on purpose: the suite may run on a busy 2-core machine, so a test
    waits for the event it needs instead of sleeping a fixed time or asserting a duration.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
