"""The bridge against mistakes and hostile peers: open start-ups refused, slow clients cut off, /health terse."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
import pytest
from bridge_helpers import GHZ3
from helpers import wait_for
from helpers.bridge import BridgeProcess

pytestmark = pytest.mark.slow

#: generous: the bridge's own deadlines are 15 s (headers) and body-timeout + 5 s
CLOSE_WAIT_S = 90.0


def _port(bridge: BridgeProcess) -> int:
    return int(bridge.url.rsplit(":", 1)[1])


def _closed_by_server(sock: socket.socket) -> bytes:
    """Read until the server closes the connection (EOF or reset); returns what it sent."""
    sock.settimeout(CLOSE_WAIT_S)
    received = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return received
        except TimeoutError:
            pytest.fail(f"the bridge kept a stalled connection open for {CLOSE_WAIT_S:.0f}s")
        if not chunk:
            return received
        received += chunk


def _serve(args: list[str], env_key: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BRIDGE_API_KEY"}
    if env_key is not None:
        env["BRIDGE_API_KEY"] = env_key
    return subprocess.run([sys.executable, "-m", "qcos", "bridge", "serve", "--port", "0", *args],
                          capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)


def test_whitespace_key_is_refused_at_start_up():
    done = _serve([], "   ")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "BRIDGE_API_KEY is empty or only whitespace" in done.stderr
    assert "listening" not in done.stdout


def test_all_interfaces_without_a_key_is_refused_at_start_up():
    done = _serve(["--host", "0.0.0.0"], None)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--insecure-no-auth" in done.stderr and "0.0.0.0" in done.stderr
    assert "listening" not in done.stdout


def test_half_sent_headers_are_closed_while_other_clients_are_served(bridge):
    with socket.create_connection(("127.0.0.1", _port(bridge)), timeout=20) as half, \
            socket.create_connection(("127.0.0.1", _port(bridge)), timeout=20) as silent:
        half.sendall(b"POST /run-circuit HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
        for _ in range(3):  # meanwhile, a well-behaved client is served
            answer = httpx.post(bridge.url + "/run-circuit", json={"qasm": GHZ3, "shots": 10},
                                headers=bridge.headers(), timeout=60)
            assert answer.status_code == 200, answer.text
        _closed_by_server(half)
        _closed_by_server(silent)
    assert "request headers not received within 15s" in bridge.log()


def test_unread_body_after_401_does_not_hold_the_connection(bridge):
    with socket.create_connection(("127.0.0.1", _port(bridge)), timeout=20) as sock:
        sock.sendall(b"POST /run-circuit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{")
        answer = _closed_by_server(sock)
    assert answer.startswith(b"HTTP/1.1 401")


def test_health_without_the_key_says_only_up_or_ready(bridge):
    anonymous = httpx.get(bridge.url + "/health", timeout=10)
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
    wrong = httpx.get(bridge.url + "/health", headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert wrong.json() == {"status": "ok"}
    keyed = httpx.get(bridge.url + "/health", headers=bridge.headers(), timeout=10).json()
    assert keyed["worker_pids"] and keyed["version"] and keyed["max_qubits"]


def test_connections_beyond_the_cap_are_closed_on_arrival(bridge_log_dir):
    server = BridgeProcess(bridge_log_dir, "--workers", "1", "--max-connections", "3", api_key="cap-key",
                           name="capped").start()
    try:
        held = [socket.create_connection(("127.0.0.1", _port(server)), timeout=20) for _ in range(3)]
        try:
            with socket.create_connection(("127.0.0.1", _port(server)), timeout=20) as extra:
                extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                assert _closed_by_server(extra) == b""
        finally:
            for sock in held:
                sock.close()
        # once the stalled ones are gone, clients get in again
        def healthy() -> bool:
            try:
                return httpx.get(server.url + "/health", timeout=10).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 180, "the capped bridge to accept clients again", interval_s=0.1)
        assert "--max-connections 3" in server.log()
    finally:
        server.stop()


def test_client_hanging_up_mid_body_is_a_quiet_log_line(bridge):
    seen = len(bridge.log())
    with socket.create_connection(("127.0.0.1", _port(bridge)), timeout=20) as sock:
        sock.sendall(b"POST /run-circuit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Authorization: Bearer {bridge.api_key}\r\nContent-Length: 1000\r\n\r\n".encode()
                     + b'{"qasm": "OPEN')
    wait_for(lambda: "hung up while sending its request body" in bridge.log()[seen:], 180,
             "the bridge to log the hang-up", interval_s=0.1)
    log = bridge.log()[seen:]
    assert "unexpected bridge error" not in log and "Traceback" not in log
