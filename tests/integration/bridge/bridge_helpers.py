"""Start and stop real ``qcos bridge serve`` processes on 127.0.0.1 for the bridge tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from helpers import free_port

#: Limits of the shared test bridge (small, so the limit cases are cheap to hit).
MAX_QUBITS = 12
MAX_SHOTS = 100_000
MAX_BODY_MB = 1
TIMEOUT_S = 3

GHZ3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nbit[3] c;\nh q[0];\ncx q[0], q[1];\ncx q[1], q[2];\nc = measure q;\n'


def ghz(n: int) -> str:
    lines = ['OPENQASM 3.0;', 'include "stdgates.inc";', f"qubit[{n}] q;", f"bit[{n}] c;", "h q[0];"]
    lines += [f"cx q[{i}], q[{i + 1}];" for i in range(n - 1)]
    lines.append("c = measure q;")
    return "\n".join(lines) + "\n"


def slow_qasm(iterations: int = 20_000_000) -> str:
    """A tiny program that keeps Aer busy for a long time (a loop it cannot sample away)."""
    return (
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
        f"for int i in [0:{iterations}] {{ h q[0]; cx q[0], q[1]; }}\nc = measure q;\n"
    )


class BridgeProcess:
    """``python -m qcos bridge serve`` in a subprocess, logging to a file, stopped by pid."""

    def __init__(self, log_dir: Path, *args: str, api_key: str | None = None, name: str = "bridge") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.args = ["--port", str(self.port), *args]
        self.api_key = api_key
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90.0) -> BridgeProcess:
        env = dict(os.environ)
        env.pop("BRIDGE_API_KEY", None)
        if self.api_key:
            env["BRIDGE_API_KEY"] = self.api_key
        env["PYTHONUNBUFFERED"] = "1"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "qcos", "bridge", "serve", *self.args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bridge exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"bridge did not become healthy within {timeout_s}s:\n{self.log()}")

    def health(self) -> dict:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return httpx.get(self.url + "/health", headers=headers, timeout=5).json()

    def kill(self) -> None:
        """SIGKILL the server (its workers notice the closed channel and exit)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down and stops the workers), SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
