"""Deploy, inspect and stop a ``qcos bridge serve`` process on a remote host over SSH.

How it works (no root, no pip on the remote side, nothing on a command line that
should stay secret):

0. ``REMOTE_DIR`` must be owned by the login user and not writable by group or others
   (refused otherwise: another user there could read the key or plant links);
1. the local ``qcos`` package source is packed into a tar.gz, copied over SFTP into
   ``REMOTE_DIR`` and unpacked to ``REMOTE_DIR/src`` (``--no-upload`` uses a qcos
   already installed in the remote python instead);
2. the remote python (``--python``, e.g. ``/flash/project_x/venv/bin/python`` on LUMI)
   must already have qcos's runtime dependencies (fastapi, uvicorn, pydantic, qiskit,
   qiskit-aer); this is checked and a missing one is reported with the pip command;
3. the API key travels over SFTP into ``REMOTE_DIR/bridge-PORT.key`` (created O_EXCL in a
   private staging folder, mode 0600, then renamed) and the bridge reads it with ``--api-key-file``;
4. the bridge starts detached (``setsid nohup``) on 127.0.0.1:PORT, logging to
   ``REMOTE_DIR/bridge-PORT.log``, its pid in ``REMOTE_DIR/bridge-PORT.pid``;
5. ``/health`` is polled through an SSH tunnel until it answers.
"""

from __future__ import annotations

import dataclasses
import logging
import posixpath
import shlex
import time
from dataclasses import dataclass
from typing import Any

from qcos.bridge.remote_files import (
    check_remote_dir,
    read_remote_key,
    upload_source,
    write_key_file,
)
from qcos.exceptions import BridgeError, TunnelError
from qcos.tunnels.connection import SSHConnection
from qcos.tunnels.manager import SSHTunnel

logger = logging.getLogger(__name__)

DEFAULT_REMOTE_DIR = "qcos-bridge"
DEFAULT_PYTHON = "python3"
DEFAULT_BRIDGE_PORT = 8888
#: Modules the bridge needs in the remote python besides qcos itself.
REQUIRED_MODULES = ("fastapi", "uvicorn", "pydantic", "httpx", "qiskit", "qiskit_aer", "yaml")
_PIP_NAMES = {"yaml": "pyyaml", "qiskit_aer": "qiskit-aer"}


@dataclass
class BridgeStatus:
    """What ``qcos bridge status`` reports."""

    host: str
    remote_dir: str
    port: int
    pid: int | None = None
    running: bool = False
    healthy: bool = False
    health: dict[str, Any] | None = None
    detail: str = ""
    log_path: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The JSON of ``qcos bridge status --json`` (``log_path`` as ``log``)."""
        data = dataclasses.asdict(self)
        data["log"] = data.pop("log_path")
        return data


class BridgeDeployment:
    """The bridge on one remote host, directory and port."""

    def __init__(
        self,
        connection: SSHConnection,
        *,
        remote_dir: str = DEFAULT_REMOTE_DIR,
        port: int = DEFAULT_BRIDGE_PORT,
        python: str = DEFAULT_PYTHON,
    ) -> None:
        if not 0 < int(port) < 65536:
            raise ValueError(f"bridge port must be 1-65535, got {port!r}")
        self.connection = connection
        self.port = int(port)
        self.python = python
        self._requested_dir = remote_dir
        self._remote_dir: str | None = None

    # -- paths ------------------------------------------------------------------------
    @property
    def remote_dir(self) -> str:
        """The absolute remote directory (created on first use)."""
        if self._remote_dir is None:
            requested = self._requested_dir
            if requested in ("~", "~/"):
                requested = "."
            elif requested.startswith("~/"):
                requested = requested[2:]  # commands start in the home directory
            rc, out, err = self._run(
                f"umask 077 && mkdir -p {shlex.quote(requested)} && cd {shlex.quote(requested)} && pwd -P && id -u"
            )
            if rc != 0:
                raise BridgeError(f"cannot create remote directory {self._requested_dir!r}: {err.strip()}")
            *_, directory, uid = out.strip().splitlines()
            check_remote_dir(self.connection, directory, int(uid))
            self._remote_dir = directory
        return self._remote_dir

    def _path(self, name: str) -> str:
        return posixpath.join(self.remote_dir, name)

    @property
    def pid_path(self) -> str:
        return self._path(f"bridge-{self.port}.pid")

    @property
    def log_path(self) -> str:
        return self._path(f"bridge-{self.port}.log")

    @property
    def key_path(self) -> str:
        return self._path(f"bridge-{self.port}.key")

    # -- remote helpers ----------------------------------------------------------------
    def _run(self, command: str, *, stdin: bytes | None = None, timeout: float = 120.0) -> tuple[int, str, str]:
        logger.debug("remote: %s", command)
        return self.connection.exec(command, stdin=stdin, timeout=timeout)

    def _env_prefix(self, upload: bool) -> str:
        if not upload:
            return ""
        src = shlex.quote(self._path("src"))
        return f'PYTHONPATH={src}"${{PYTHONPATH:+:$PYTHONPATH}}" '

    def read_pid(self) -> int | None:
        rc, out, _ = self._run(f"cat {shlex.quote(self.pid_path)} 2>/dev/null")
        text = out.strip()
        return int(text) if rc == 0 and text.isdigit() else None

    def process_alive(self, pid: int) -> bool:
        """True when ``pid`` runs and is a qcos bridge (not a recycled pid)."""
        rc, out, _ = self._run(f"kill -0 {pid} 2>/dev/null && tr '\\0' ' ' < /proc/{pid}/cmdline")
        if rc != 0:
            return False
        return "qcos" in out and "bridge" in out and "serve" in out

    def log_tail(self, lines: int = 30) -> str:
        _, out, _ = self._run(f"tail -n {int(lines)} {shlex.quote(self.log_path)} 2>/dev/null")
        return out

    # -- deploy --------------------------------------------------------------------------
    def upload_source(self) -> None:
        """Copy the local qcos source to ``REMOTE_DIR/src`` (replacing an older copy)."""
        upload_source(self.connection, self.remote_dir)

    def check_python(self, upload: bool) -> str:
        """Check the remote python has qcos and the bridge's dependencies; returns qcos's version."""
        modules = ", ".join(REQUIRED_MODULES)
        probe = (
            "import importlib.util, sys\n"
            f"missing = [m for m in ({modules!r}).split(', ') if importlib.util.find_spec(m) is None]\n"
            "print('MISSING=' + ','.join(missing), flush=True)\n"
            "import qcos.cli\n"
            "print('VERSION=' + getattr(sys.modules.get('qcos'), '__version__', '?'))\n"
        )
        command = f"cd {shlex.quote(self.remote_dir)} && {self._env_prefix(upload)}{shlex.quote(self.python)} -"
        rc, out, err = self._run(command, stdin=probe.encode(), timeout=180)
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        if rc != 0 and "MISSING" not in values:
            hint = (
                "" if upload else " (with --no-upload qcos itself must be installed there; drop --no-upload to upload it)"
            )
            raise BridgeError(
                f"the remote python {self.python!r} cannot run qcos{hint}: {err.strip()[-800:]}\n"
                f"Pass --python with a python that has qcos's dependencies (e.g. your venv's bin/python)."
            )
        missing = [m for m in values.get("MISSING", "").split(",") if m]
        if missing:
            packages = " ".join(_PIP_NAMES.get(m, m) for m in missing)
            raise BridgeError(
                f"the remote python {self.python!r} lacks {', '.join(missing)}. Install them into "
                f"that environment (e.g. `{self.python} -m pip install {packages}`; on LUMI use the "
                f"venv that has the ROCm qiskit-aer) or pass --python with another interpreter."
            )
        return values.get("VERSION", "?")

    def install_api_key(self, api_key: str) -> str:
        """Write the key to ``bridge-PORT.key`` (0600) over SFTP; returns its remote path."""
        write_key_file(self.connection, self.key_path, api_key)
        return self.key_path

    def read_api_key(self) -> str | None:
        """The deployed bridge's key (to ask ``/health`` for details), or None when it has none."""
        return read_remote_key(self.connection, self.key_path)

    def start(
        self,
        *,
        api_key: str | None = None,
        device: str | None = None,
        upload: bool = True,
        extra_args: list[str] | None = None,
    ) -> int:
        """Start the bridge detached; returns its pid. Refuses when one already runs."""
        pid = self.read_pid()
        if pid is not None and self.process_alive(pid):
            raise BridgeError(
                f"a bridge already runs on {self.connection.target.hostname} port {self.port} "
                f"(pid {pid}); stop it first with `qcos bridge stop {self.connection.host} --port {self.port}`"
            )
        if upload:
            self.upload_source()
        version = self.check_python(upload)
        logger.info("remote qcos %s with %s", version, self.python)
        args = [self.python, "-m", "qcos", "bridge", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if device:
            args += ["--device", device]
        if api_key:
            args += ["--api-key-file", self.install_api_key(api_key)]
        else:
            self._run(f"rm -f {shlex.quote(self.key_path)}")
        args += list(extra_args or [])
        launcher = 'echo $$ > "$0"; exec "$@"'  # the pid file holds the bridge's own pid
        command = (
            f"cd {shlex.quote(self.remote_dir)} && umask 077 && rm -f {shlex.quote(self.pid_path)} && "
            f"if command -v setsid >/dev/null 2>&1; then DETACH=setsid; else DETACH=; fi; "
            f"{self._env_prefix(upload)}nohup $DETACH sh -c {shlex.quote(launcher)} "
            f"{shlex.quote(self.pid_path)} {' '.join(shlex.quote(a) for a in args)} "
            f"> {shlex.quote(self.log_path)} 2>&1 < /dev/null &"
        )
        rc, _, err = self._run(command)
        if rc != 0:
            raise BridgeError(f"starting the bridge failed: {err.strip()}")
        for _ in range(50):
            pid = self.read_pid()
            if pid is not None:
                return pid
            time.sleep(0.1)
        raise BridgeError(f"the bridge did not write its pid file {self.pid_path}; log:\n{self.log_tail()}")

    def wait_healthy(self, pid: int, *, timeout: float = 120.0, api_key: str | None = None) -> dict[str, Any]:
        """Poll ``/health`` through a tunnel until it answers 200; raise with the log if it dies.

        With the bridge's ``api_key`` the answer has its details; without, only its status.
        """
        import httpx

        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        with SSHTunnel(
            self.connection.host, self.port, remote_host="127.0.0.1", connection=self.connection
        ) as tunnel, httpx.Client(base_url=tunnel.local_url, timeout=5.0, headers=headers) as client:
            checks = 0
            while time.monotonic() < deadline:
                try:
                    response = client.get("/health")
                    if response.status_code == 200:
                        return dict(response.json())
                except httpx.HTTPError:
                    pass
                checks += 1
                if checks % 4 == 0 and not self.process_alive(pid):
                    raise BridgeError(
                        f"the bridge (pid {pid}) exited during start-up; last log lines "
                        f"({self.log_path}):\n{self.log_tail()}"
                    )
                time.sleep(0.5)
        raise BridgeError(
            f"the bridge (pid {pid}) did not answer /health within {timeout:.0f} s; last log lines "
            f"({self.log_path}):\n{self.log_tail()}"
        )

    # -- status and stop ------------------------------------------------------------------
    def status(self, *, health_timeout: float = 5.0) -> BridgeStatus:
        """Whether the pid in the pid file runs, and what ``/health`` says through a tunnel."""
        import httpx

        report = BridgeStatus(
            host=self.connection.host, remote_dir=self.remote_dir, port=self.port, log_path=self.log_path
        )
        report.pid = self.read_pid()
        if report.pid is None:
            report.detail = f"no pid file {self.pid_path}: not deployed here, or stopped"
            return report
        report.running = self.process_alive(report.pid)
        if not report.running:
            report.detail = f"pid {report.pid} is not running; see {self.log_path}"
            return report
        try:
            with SSHTunnel(
                self.connection.host, self.port, remote_host="127.0.0.1", connection=self.connection
            ) as tunnel:
                key = self.read_api_key()
                headers = {"Authorization": f"Bearer {key}"} if key else {}
                response = httpx.get(f"{tunnel.local_url}/health", headers=headers, timeout=health_timeout)
            report.healthy = response.status_code == 200
            report.health = response.json() if report.healthy else None
            report.detail = "ok" if report.healthy else f"/health answered HTTP {response.status_code}"
        except (httpx.HTTPError, TunnelError, ValueError) as error:
            report.detail = f"/health through the tunnel failed: {error}"
        return report

    def stop(self, *, timeout: float = 15.0) -> bool:
        """SIGTERM the bridge's process group (then SIGKILL); False when none was running."""
        pid = self.read_pid()
        if pid is None:
            return False
        stopped = False
        if self.process_alive(pid):
            # setsid made the bridge a group leader: signal the group so its workers go too.
            _, out, _ = self._run(f"ps -o pgid= -p {pid} 2>/dev/null")
            target = f"-{pid}" if out.strip() == str(pid) else str(pid)
            self._run(f"kill -TERM -- {target} 2>/dev/null")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process_alive(pid):
                time.sleep(0.25)
            if self.process_alive(pid):
                logger.warning("bridge pid %d ignored SIGTERM for %.0f s; sending SIGKILL", pid, timeout)
                self._run(f"kill -KILL -- {target} 2>/dev/null")
            stopped = True
        self._run(f"rm -f {shlex.quote(self.pid_path)} {shlex.quote(self.key_path)}")
        return stopped
