"""SSH client files for the test sshd (tests/conftest.py starts it), a real `qcos bridge serve` behind it."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.bridge import BridgeProcess
from helpers.processes import descendants
from helpers.services import SSHServer

API_KEY = "ssh-test-key-7f3a"


@dataclass
class SSHClientFiles:
    """Per-test ssh_config and known_hosts (never the real ~/.ssh)."""

    server: SSHServer
    ssh_config: Path
    known_hosts: Path
    alias: str = "qcos-test"

    @property
    def kwargs(self) -> dict[str, str]:
        """Keyword arguments for SSHConnection/SSHTunnel/ssh_bridge."""
        return {"ssh_config": str(self.ssh_config), "known_hosts": str(self.known_hosts)}

    @property
    def cli_args(self) -> list[str]:
        return ["--ssh-config", str(self.ssh_config), "--known-hosts", str(self.known_hosts)]


def write_client_files(server: SSHServer, folder: Path, *, known: bool = True) -> SSHClientFiles:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "ssh_config"
    config.write_text(
        f"Host qcos-test\n"
        f"    HostName 127.0.0.1\n"
        f"    Port {server.port}\n"
        f"    User {server.user}\n"
        f"    IdentityFile {server.client_key}\n"
        f"    IdentitiesOnly yes\n"
        f"    ServerAliveInterval 2\n"
    )
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(server.known_hosts_lines() if known else "")
    return SSHClientFiles(server, config, known_hosts)


@pytest.fixture
def ssh_files(sshd: SSHServer, tmp_path: Path) -> SSHClientFiles:
    """ssh_config (alias ``qcos-test``) and a known_hosts holding the server's real keys."""
    return write_client_files(sshd, tmp_path / "ssh")


@pytest.fixture(autouse=True)
def _no_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests log in with the test key only, never with a developer's agent keys."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


@pytest.fixture(autouse=True)
def _close_cached_tunnels() -> Iterator[None]:
    yield
    from qcos.tunnels.manager import close_all_tunnels

    close_all_tunnels()


@pytest.fixture(scope="session")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeProcess]:
    """A real keyed `qcos bridge serve` on 127.0.0.1 (the 'remote' side of the tunnel)."""
    server = BridgeProcess(tmp_path_factory.mktemp("bridge"), "--host", "127.0.0.1", "--workers", "2",
                           "--no-access-log", api_key=API_KEY, name="ssh").start()
    try:
        yield server
    finally:
        server.stop()


def _socket_inode(local_port: int, remote_port: int) -> str | None:
    """The inode of the server-side TCP socket (sshd port ``local_port``, client ``remote_port``)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, remote, inode = parts[1], parts[2], parts[9]
            if int(local.rsplit(":", 1)[1], 16) == local_port and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                return inode
    return None


def connection_pids(server: SSHServer, client_port: int) -> list[int]:
    """The sshd child (and its children) serving the client connection from ``client_port``.

    Found among the descendants of the sshd master pid by the socket it holds; never by name.
    """
    inode = _socket_inode(server.port, client_port)
    assert inode is not None, f"no TCP connection from client port {client_port} to sshd port {server.port}"
    owners = []
    for pid in descendants(server.pid):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    owners.append(pid)
                    break
            except OSError:
                continue
    assert owners, f"no sshd child holds the connection from port {client_port}"
    return sorted({*owners, *(d for pid in owners for d in descendants(pid))})


def kill_connection(server: SSHServer, client_port: int, sig: int = signal.SIGKILL) -> list[int]:
    """Send ``sig`` (SIGKILL: the connection dies; SIGSTOP: it hangs) to the connection's sshd processes."""
    victims = connection_pids(server, client_port)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return victims
