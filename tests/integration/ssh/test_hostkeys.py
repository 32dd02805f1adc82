"""Host key verification against a real sshd: unknown and changed keys are refused by default."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from qcos.exceptions import HostKeyError
from qcos.tunnels.connection import SSHConnection

from .conftest import SSHServer, write_client_files

pytestmark = pytest.mark.ssh


def test_unknown_host_key_is_refused_and_the_advice_works(sshd: SSHServer, tmp_path: Path) -> None:
    files = write_client_files(sshd, tmp_path, known=False)
    with pytest.raises(HostKeyError) as caught:
        SSHConnection("qcos-test", **files.kwargs).connect()
    message = str(caught.value)
    assert "unknown host key" in message
    assert f"[127.0.0.1]:{sshd.port}" in message
    assert "host_key_policy='accept-new'" in message
    assert files.known_hosts.read_text() == ""  # nothing recorded behind the user's back
    # Follow the advice literally: run the ssh-keyscan line the message prints.
    command = re.search(r"ssh-keyscan .*", message).group(0)
    assert command == f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {files.known_hosts}"
    subprocess.run(command, shell=True, check=True, capture_output=True, timeout=30)
    with SSHConnection("qcos-test", **files.kwargs) as connection:
        assert connection.state == "connected"


def test_changed_host_key_is_refused_even_with_accept_new(sshd: SSHServer, tmp_path: Path) -> None:
    files = write_client_files(sshd, tmp_path, known=False)
    impostor = tmp_path / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor)], check=True)
    key_type, blob = (tmp_path / "impostor.pub").read_text().split()[:2]
    files.known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {key_type} {blob}\n")
    for policy in (None, "accept-new"):
        with pytest.raises(HostKeyError) as caught:
            SSHConnection("qcos-test", host_key_policy=policy, **files.kwargs).connect()
        message = str(caught.value)
        assert "HOST KEY MISMATCH" in message
        assert f"ssh-keygen -R '[127.0.0.1]:{sshd.port}' -f {files.known_hosts}" in message
    assert files.known_hosts.read_text().count("\n") == 1  # left untouched


def test_accept_new_records_the_key_once(sshd: SSHServer, tmp_path: Path) -> None:
    files = write_client_files(sshd, tmp_path, known=False)
    with SSHConnection("qcos-test", host_key_policy="accept-new", **files.kwargs):
        pass
    recorded = files.known_hosts.read_text()
    assert recorded.startswith(f"[127.0.0.1]:{sshd.port} ")
    # Afterwards the default strict policy accepts it, and nothing is appended again.
    with SSHConnection("qcos-test", **files.kwargs):
        pass
    assert files.known_hosts.read_text() == recorded


def test_cli_refuses_unknown_host_with_exit_code_2(sshd: SSHServer, tmp_path: Path) -> None:
    import sys

    files = write_client_files(sshd, tmp_path, known=False)
    proc = subprocess.run(
        [sys.executable, "-m", "qcos", "tunnel", "qcos-test", "--remote-port", "9", *files.cli_args],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "qcos: error: unknown host key" in proc.stderr
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1" in proc.stderr
    assert "--accept-new-host-key" in proc.stderr
    assert shlex.quote(str(files.known_hosts)) in proc.stderr
