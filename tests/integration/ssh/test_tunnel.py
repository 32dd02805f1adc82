"""SSHTunnel through a real sshd: forwarding, concurrency, ProxyJump, reconnect, CLI, cache."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from helpers import free_port, wait_for

from qcos.exceptions import TunnelError
from qcos.tunnels.connection import SSHConnection
from qcos.tunnels.manager import SSHTunnel, acquire_tunnel, cached_tunnels, release_tunnel

from .conftest import SSHClientFiles, kill_connection

pytestmark = pytest.mark.ssh


class _Echo:
    """A tiny line-echo TCP server on loopback (the 'remote service')."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    @staticmethod
    def _handle(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture
def echo() -> Iterator[_Echo]:
    server = _Echo()
    yield server
    server.close()


def _roundtrip(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def test_forwards_bytes_both_ways_and_closes_cleanly(ssh_files: SSHClientFiles, echo: _Echo) -> None:
    with SSHTunnel("qcos-test", echo.port, **ssh_files.kwargs) as tunnel:
        assert tunnel.state == "connected"
        assert tunnel.local_url == f"http://127.0.0.1:{tunnel.local_port}"
        payload = bytes(range(256)) * 4096  # 1 MiB
        assert _roundtrip(tunnel.local_port, payload) == payload
        port = tunnel.local_port
    assert tunnel.state == "closed"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    # Clean shutdown: no forwarder, copy or monitor thread is left behind.
    wait_for(lambda: not _qcos_threads(), 60, f"the tunnel's threads to end (left: {_qcos_threads()})")


def _qcos_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("qcos-fwd", "qcos-ssh"))]


def test_many_concurrent_connections(ssh_files: SSHClientFiles, echo: _Echo) -> None:
    with SSHTunnel("qcos-test", echo.port, **ssh_files.kwargs) as tunnel:
        payloads = [f"conn-{i}:".encode() * (1000 + i) for i in range(32)]
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda p: _roundtrip(tunnel.local_port, p), payloads))
        assert answers == payloads
        assert tunnel.status()["forwarded_connections"] >= 32


def test_fixed_local_port_and_taken_port(ssh_files: SSHClientFiles, echo: _Echo) -> None:
    port = free_port()
    with SSHTunnel("qcos-test", echo.port, local_port=port, **ssh_files.kwargs) as tunnel:
        assert tunnel.local_port == port
        with pytest.raises(TunnelError, match="choose another local port"):
            SSHTunnel("qcos-test", echo.port, local_port=port, **ssh_files.kwargs).start()


def test_remote_port_with_nothing_listening_fails_the_connection_only(ssh_files: SSHClientFiles) -> None:
    with SSHTunnel("qcos-test", free_port(), **ssh_files.kwargs) as tunnel:
        with pytest.raises(httpx.HTTPError):
            httpx.get(tunnel.local_url, timeout=10)
        assert tunnel.state == "connected"
        assert tunnel.status()["failed_connections"] == 1


def test_proxyjump_through_a_jump_host(sshd, tmp_path: Path, echo: _Echo) -> None:
    from .conftest import write_client_files

    files = write_client_files(sshd, tmp_path)
    files.ssh_config.write_text(
        files.ssh_config.read_text()
        + f"\nHost behind\n    HostName 127.0.0.1\n    Port {sshd.port}\n    User {sshd.user}\n"
        f"    IdentityFile {sshd.client_key}\n    ProxyJump qcos-test\n"
    )
    with SSHTunnel("behind", echo.port, **files.kwargs) as tunnel:
        assert len(tunnel.connection.target.jumps) == 1
        assert len(tunnel.connection._hops) == 1  # the jump transport under the final one
        assert _roundtrip(tunnel.local_port, b"through the jump host") == b"through the jump host"


def test_reconnects_after_the_sshd_child_is_killed(sshd, ssh_files: SSHClientFiles, echo: _Echo) -> None:
    with SSHTunnel("qcos-test", echo.port, **ssh_files.kwargs) as tunnel:
        port = tunnel.local_port
        assert _roundtrip(port, b"before") == b"before"
        # An idle in-flight connection dies with the transport.
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        idle.sendall(b"x")
        assert idle.recv(1) == b"x"
        victims = kill_connection(sshd, tunnel.connection.client_port())
        assert victims
        idle.settimeout(10)
        with contextlib.suppress(OSError):
            assert idle.recv(1) == b""
        idle.close()
        # The listener stays; a new connection goes over a fresh transport.
        assert _roundtrip(port, b"after") == b"after"
        assert tunnel.local_port == port
        assert tunnel.connection.reconnects >= 1
        assert tunnel.state == "connected"


def test_tunnel_cache_shares_and_refcounts(ssh_files: SSHClientFiles, echo: _Echo) -> None:
    first = acquire_tunnel("qcos-test", echo.port, **ssh_files.kwargs)
    second = acquire_tunnel("qcos-test", echo.port, **ssh_files.kwargs)
    assert first is second
    assert cached_tunnels() == [first]
    release_tunnel(first)
    assert first.state == "connected"
    assert _roundtrip(first.local_port, b"still up") == b"still up"
    release_tunnel(second)
    assert first.state == "closed"
    assert cached_tunnels() == []


def test_connection_exec_and_stdin(ssh_files: SSHClientFiles) -> None:
    with SSHConnection("qcos-test", **ssh_files.kwargs) as connection:
        rc, out, err = connection.exec("cat; echo done >&2; exit 3", stdin=b"secret stays off argv")
        assert (rc, out, err.strip()) == (3, "secret stays off argv", "done")


def test_bad_key_is_refused_with_advice(sshd, tmp_path: Path) -> None:
    from .conftest import write_client_files

    files = write_client_files(sshd, tmp_path)
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    with pytest.raises(TunnelError, match="authorized_keys"):
        SSHConnection("qcos-test", identity=str(other), **files.kwargs).connect()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_cli_tunnel_prints_url_and_forwards(
    ssh_files: SSHClientFiles, echo: _Echo, stop_signal: int, sigint_handler: None
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "qcos", "tunnel", "qcos-test", "--remote-port", str(echo.port),
         *ssh_files.cli_args, "--duration", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("http://127.0.0.1:"), line + proc.stderr.read()
        port = int(line.split()[0].rsplit(":", 1)[1])
        assert _roundtrip(port, b"via the cli") == b"via the cli"
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_waits_for_reconnect_instead_of_failing_new_connections(
    sshd, ssh_files: SSHClientFiles, echo: _Echo
) -> None:
    with SSHTunnel("qcos-test", echo.port, **ssh_files.kwargs) as tunnel:
        kill_connection(sshd, tunnel.connection.client_port())
        # Immediately after the kill: the connection waits for the fresh transport.
        assert _roundtrip(tunnel.local_port, b"queued") == b"queued"
        assert tunnel.connection.reconnects >= 1


def test_hung_server_is_detected_by_keepalive_and_replaced(sshd, ssh_files: SSHClientFiles, echo: _Echo) -> None:
    with SSHTunnel("qcos-test", echo.port, keepalive_s=0.5, keepalive_count_max=2, **ssh_files.kwargs) as tunnel:
        assert _roundtrip(tunnel.local_port, b"before") == b"before"
        frozen = kill_connection(sshd, tunnel.connection.client_port(), signal.SIGSTOP)  # no FIN, no RST
        try:
            # without keep-alive detection this would block on the frozen server until _roundtrip's timeout
            assert _roundtrip(tunnel.local_port, b"after the freeze") == b"after the freeze"
            assert tunnel.connection.reconnects == 1
        finally:
            for pid in frozen:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    os.kill(pid, signal.SIGCONT)


def test_login_with_a_key_held_by_ssh_agent(sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    if shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
        pytest.skip("ssh-agent/ssh-add not installed (openssh-client)")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        wait_for(sock.exists, 60, f"ssh-agent's socket {sock}")
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(sshd.client_key)], env=env, check=True, timeout=30,
                       capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/id_* to fall back on
        config = tmp_path / "ssh_config"
        config.write_text(f"Host agent-only\n    HostName 127.0.0.1\n    Port {sshd.port}\n    User {sshd.user}\n")
        known = tmp_path / "known_hosts"
        known.write_text(sshd.known_hosts_lines())
        with SSHConnection("agent-only", ssh_config=str(config), known_hosts=str(known)) as connection:
            assert connection.exec("echo via-agent")[:2] == (0, "via-agent\n")
    finally:
        agent.terminate()
        agent.wait(timeout=10)
