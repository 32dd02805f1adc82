"""The shared test helpers do what the suite relies on: skip locally, fail in CI, wait on events."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from helpers import free_port, skip_or_fail, wait_for
from helpers.processes import alive, cmdline, descendants


def test_skip_or_fail_skips_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QCOS_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="^no sshd here$"):
        skip_or_fail("no sshd here")


def test_skip_or_fail_fails_when_ci_requires_the_services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QCOS_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match=r"no sshd here \(QCOS_REQUIRE_SERVICES=1: services are required"):
        skip_or_fail("no sshd here")


def test_wait_for_returns_the_value_or_names_what_never_happened() -> None:
    assert wait_for(lambda: [7], 1.0) == [7]
    with pytest.raises(AssertionError, match="timed out after 0.2 s waiting for the moon"):
        wait_for(lambda: None, 0.2, "the moon")


def test_free_port_can_be_bound() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        assert sock.getsockname() == ("127.0.0.1", port)


def test_process_facts_follow_a_real_process_tree() -> None:
    parent = subprocess.Popen(["sh", "-c", "sleep 300 & wait"], start_new_session=True)
    try:
        child = wait_for(lambda: next((p for p in descendants(parent.pid) if cmdline(p) == "sleep 300"), 0), 60,
                         "the shell's child to exec sleep")  # until it execs, the forked child is a shell
        assert alive(child) and descendants(parent.pid) == {child}
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait(timeout=60)
    wait_for(lambda: not alive(child), 60, "the killed child to go")
    assert not alive(parent.pid) and cmdline(parent.pid) == ""
