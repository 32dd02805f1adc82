"""The real services the integration tests run against: one single-node Slurm and private sshds.

Both are started by the scripts in ``tests/services/`` (which install nothing); a missing service
skips the test with a reason that says how to enable it, or fails it when
``QCOS_REQUIRE_SERVICES=1`` (see :func:`helpers.skip_or_fail`). The fixtures that use these live
in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from helpers import skip_or_fail

SERVICES = Path(__file__).resolve().parents[1] / "services"
SSHD = "/usr/sbin/sshd"
#: Leave a Slurm started by this session running at the end (the machine's Slurm is shared).
KEEP_SLURM_ENV = "QCOS_KEEP_SLURM"


@dataclass(frozen=True)
class SlurmService:
    """The running single-node Slurm: its state folder and whether this session started it."""

    state_dir: Path
    started_here: bool

    def env(self) -> dict[str, str]:
        return dict(os.environ, QCOS_SLURM_DIR=str(self.state_dir))


def slurm_state_dir() -> Path:
    return Path(os.environ.get("QCOS_SLURM_DIR", "/tmp/qcos-slurm"))


def start_slurm(timeout_s: float = 240.0) -> SlurmService:
    """Run tests/services/slurm-up.sh (which reuses a running Slurm); skip or fail when it cannot."""
    if os.geteuid() != 0:
        skip_or_fail("the test Slurm runs its daemons as root; run the tests as root (`make test`)")
    state_dir = slurm_state_dir()
    up = SERVICES / "slurm-up.sh"
    try:
        proc = subprocess.run(["bash", str(up)], capture_output=True, text=True, timeout=timeout_s,
                              env=dict(os.environ, QCOS_SLURM_DIR=str(state_dir)), check=False)
    except subprocess.TimeoutExpired:
        skip_or_fail(f"{up} did not finish within {timeout_s:g} s; see the logs in {state_dir}/log")
    if proc.returncode == 3:
        skip_or_fail(f"Slurm is not installed ({proc.stderr.strip()}); `make test` as root installs it")
    if proc.returncode != 0:
        skip_or_fail(f"{up} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return SlurmService(state_dir, started_here="reused" not in proc.stdout)


def stop_slurm(service: SlurmService) -> None:
    """Stop Slurm if this session started it, unless QCOS_KEEP_SLURM=1 (others may be using it)."""
    if service.started_here and os.environ.get(KEEP_SLURM_ENV) != "1":
        subprocess.run(["bash", str(SERVICES / "slurm-down.sh")], capture_output=True, text=True, timeout=120,
                       env=service.env(), check=False)


@dataclass(frozen=True)
class SSHServer:
    """A running private sshd on 127.0.0.1 and the files a client needs to log in to it."""

    dir: Path
    port: int
    pid: int
    user: str
    client_key: Path
    host_public_keys: list[Path] = field(default_factory=list)

    def known_hosts_lines(self) -> str:
        """known_hosts lines holding the server's real host keys."""
        lines = []
        for path in self.host_public_keys:
            key_type, blob = path.read_text().split()[:2]
            lines.append(f"[127.0.0.1]:{self.port} {key_type} {blob}\n")
        return "".join(lines)


def start_sshd(timeout_s: float = 120.0) -> SSHServer:
    """Run tests/services/sshd-up.sh (own keys, free port, temp folder); skip or fail when it cannot."""
    if not os.path.exists(SSHD) or shutil.which("ssh-keygen") is None:
        skip_or_fail("OpenSSH server not installed: run `make test` as root (it apt-installs openssh-server)")
    if os.geteuid() != 0:
        skip_or_fail("the test sshd needs root (privilege separation); run `make test` as root")
    try:
        proc = subprocess.run(["bash", str(SERVICES / "sshd-up.sh")], capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        skip_or_fail(f"tests/services/sshd-up.sh did not finish within {timeout_s:g} s")
    if proc.returncode != 0:
        skip_or_fail(f"could not start the test sshd (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return SSHServer(
        dir=Path(values["SSHD_DIR"]),
        port=int(values["SSHD_PORT"]),
        pid=int(values["SSHD_PID"]),
        user=values["SSHD_USER"],
        client_key=Path(values["SSHD_CLIENT_KEY"]),
        host_public_keys=[Path(p) for p in values["SSHD_HOST_KEYS"].split(":")],
    )


def stop_sshd(server: SSHServer) -> None:
    """Stop the sshd by its pid file (never by name) and remove its folder."""
    subprocess.run(["bash", str(SERVICES / "sshd-down.sh"), str(server.dir)], capture_output=True, timeout=60,
                   check=False)
