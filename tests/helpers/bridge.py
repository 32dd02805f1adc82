"""A real ``qcos bridge serve`` on 127.0.0.1 for the bridge, SSH and workflow tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from helpers import free_port


class BridgeProcess:
    """``python -m qcos bridge serve`` on a free port, in its own session, logging to a file, stopped by pid.

    ``api_key`` reaches the bridge as ``BRIDGE_API_KEY`` (an inherited one is removed); extra
    ``args`` go to ``qcos bridge serve`` as given.
    """

    def __init__(self, log_dir: Path, *args: str, api_key: str | None = None, name: str = "bridge") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.args = ["--port", str(self.port), *args]
        self.api_key = api_key
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "the bridge was not started"
        return self.process.pid

    def start(self, timeout_s: float = 180.0) -> BridgeProcess:
        """Start it and wait until /health answers 200 (RuntimeError with its log otherwise)."""
        env = dict(os.environ)
        env.pop("BRIDGE_API_KEY", None)
        if self.api_key:
            env["BRIDGE_API_KEY"] = self.api_key
        env["PYTHONUNBUFFERED"] = "1"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "qcos", "bridge", "serve", *self.args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
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

    def health(self) -> dict[str, Any]:
        """The bridge's /health answer (with the key: the full one)."""
        return dict(httpx.get(self.url + "/health", headers=self.headers(), timeout=30).json())

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
