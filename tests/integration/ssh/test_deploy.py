"""`qcos bridge deploy|status|stop` to 127.0.0.1 through a real sshd, and circuits through the result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import free_port, wait_for
from helpers.processes import cmdline, descendants
from qiskit import QuantumCircuit

from qcos.providers.cluster import ClusterBuilder
from qcos.qvm import DistributedQVM

from .conftest import SSHClientFiles

pytestmark = [pytest.mark.ssh, pytest.mark.slow]


def _qcos(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qcos", *args], capture_output=True, text=True, timeout=timeout)


def test_deploy_status_run_and_stop(sshd, ssh_files: SSHClientFiles, tmp_path: Path) -> None:
    remote_dir = tmp_path / "remote"
    port = free_port()
    key = "deploy-secret-5c1e"
    key_file = tmp_path / "bridge.key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    where = ["--remote-dir", str(remote_dir), "--port", str(port), *ssh_files.cli_args]

    deployed = _qcos("bridge", "deploy", "qcos-test", *where, "--python", sys.executable,
                     "--api-key-file", str(key_file), "--serve-arg=--workers=2")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "bridge healthy" in deployed.stdout
    pid = int((remote_dir / f"bridge-{port}.pid").read_text())
    try:
        # Detached: its own session, not a child of the sshd connection that started it.
        assert os.getsid(pid) == pid
        assert pid not in descendants(sshd.pid)
        command = cmdline(pid)
        assert "bridge serve" in command and "--api-key-file" in command
        assert key not in command  # the key is in a 0600 file, not on the command line ...
        assert key not in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")  # ... nor in env
        key_path = remote_dir / f"bridge-{port}.key"
        assert key_path.read_text().strip() == key
        assert key_path.stat().st_mode & 0o777 == 0o600
        assert key not in (remote_dir / f"bridge-{port}.log").read_text()
        assert key not in deployed.stdout + deployed.stderr
        # It runs the uploaded source.
        assert (remote_dir / "src" / "qcos" / "bridge" / "deploy.py").is_file()

        status = _qcos("bridge", "status", "qcos-test", *where, "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        report = json.loads(status.stdout)
        assert report["running"] and report["healthy"] and report["pid"] == pid

        circuit = QuantumCircuit(3, 3, name="ghz3")
        circuit.h(0)
        circuit.cx(0, 1)
        circuit.cx(1, 2)
        circuit.measure(range(3), range(3))
        builder = ClusterBuilder().add(
            "ssh_bridge", host="qcos-test", remote_port=port, remote_host="127.0.0.1", n_workers=2,
            api_key=key, timeout_s=60, **ssh_files.kwargs,
        )
        with builder.build() as registry:
            result = DistributedQVM(registry, shots=3000, seed=7, chunk_shots=500).run(circuit)
        assert sum(result.counts.values()) == 3000
        assert set(result.counts) == {"000", "111"}
        assert {c.node_id for c in result.chunks} <= {"ssh-qcos-test-0", "ssh-qcos-test-1"}

        again = _qcos("bridge", "deploy", "qcos-test", *where, "--python", sys.executable)
        assert again.returncode == 2 and "already runs" in again.stderr and "qcos bridge stop" in again.stderr

        stopped = _qcos("bridge", "stop", "qcos-test", *where)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert "stopped" in stopped.stdout
        wait_for(lambda: "bridge serve" not in cmdline(pid), 60, f"the bridge (pid {pid}) to stop")
        assert not (remote_dir / f"bridge-{port}.pid").exists()
        assert not key_path.exists()

        after = _qcos("bridge", "status", "qcos-test", *where)
        assert after.returncode == 1 and "not running" in after.stdout
    finally:
        if "bridge serve" in cmdline(pid):
            os.killpg(pid, 9)


def test_deploy_reports_a_python_without_the_dependencies(ssh_files: SSHClientFiles, tmp_path: Path) -> None:
    bare = tmp_path / "bare-python"
    bare.write_text("#!/bin/sh\nexec /usr/bin/python3 -I \"$@\"\n")  # system python, no qiskit/fastapi
    bare.chmod(0o755)
    result = _qcos("bridge", "deploy", "qcos-test", "--remote-dir", str(tmp_path / "r"), "--port",
                   str(free_port()), "--python", str(bare), *ssh_files.cli_args, timeout=120)
    assert result.returncode == 2
    assert "qcos: error:" in result.stderr
    assert "--python" in result.stderr


def _foreign_dir(tmp_path: Path) -> Path:
    """A directory owned by another user: nobody's when we are root, else root's /usr."""
    if os.getuid() != 0:
        return Path("/usr")
    folder = tmp_path / "someone-else"
    folder.mkdir(mode=0o755)
    os.chown(folder, 65534, 65534)
    return folder


def test_deploy_into_a_foreign_owned_directory_is_refused(ssh_files: SSHClientFiles, tmp_path: Path) -> None:
    foreign = _foreign_dir(tmp_path)
    key_file = tmp_path / "bridge.key"
    key_file.write_text("foreign-dir-secret\n")
    key_file.chmod(0o600)
    port = free_port()
    result = _qcos("bridge", "deploy", "qcos-test", "--remote-dir", str(foreign), "--port", str(port),
                   "--python", sys.executable, "--api-key-file", str(key_file), *ssh_files.cli_args, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{foreign} is owned by uid" in result.stderr and "not by the login user" in result.stderr
    assert not (foreign / f"bridge-{port}.key").exists() and not (foreign / "src").exists()


def test_deploy_into_a_directory_others_can_write_is_refused(ssh_files: SSHClientFiles, tmp_path: Path) -> None:
    from qcos.bridge.deploy import BridgeDeployment
    from qcos.exceptions import BridgeError
    from qcos.tunnels.connection import SSHConnection

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with SSHConnection("qcos-test", reconnect=False, **ssh_files.kwargs).connect() as connection:
        deployment = BridgeDeployment(connection, remote_dir=str(shared), port=free_port())
        with pytest.raises(BridgeError, match=r"has mode 1777: other users can write into it"):
            deployment.install_api_key("never-written")
    assert list(shared.iterdir()) == []


def test_key_is_written_over_sftp_without_following_planted_links(ssh_files: SSHClientFiles, tmp_path: Path) -> None:
    from qcos.bridge.deploy import BridgeDeployment
    from qcos.tunnels.connection import SSHConnection

    remote = tmp_path / "remote"
    remote.mkdir(mode=0o700)
    port = free_port()
    bait = tmp_path / "bait"
    bait.write_text("untouched\n")
    (remote / f"bridge-{port}.key").symlink_to(bait)
    (remote / f"bridge-{port}.key.tmp").symlink_to(bait)  # what the old `cat > ...key.tmp` followed
    with SSHConnection("qcos-test", reconnect=False, **ssh_files.kwargs).connect() as connection:
        deployment = BridgeDeployment(connection, remote_dir=str(remote), port=port)
        path = deployment.install_api_key("link-secret-77")
        assert deployment.read_api_key() == "link-secret-77"
    key_path = remote / f"bridge-{port}.key"
    assert path == str(key_path) and not key_path.is_symlink()
    assert key_path.read_text() == "link-secret-77\n" and key_path.stat().st_mode & 0o777 == 0o600
    assert bait.read_text() == "untouched\n"
    assert sorted(p.name for p in remote.iterdir()) == [f"bridge-{port}.key", f"bridge-{port}.key.tmp"]
