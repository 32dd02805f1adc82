"""One warm worker child: start it, exchange chunks with it, kill it by pid.

Children are started from one long-lived launcher thread: Linux delivers
``PR_SET_PDEATHSIG`` when the *thread* that forked a child ends, so a child forked from
a short-lived scheduler or restart thread would be killed with that thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import IO, Any, TypeVar

from qcos.exceptions import WorkerError
from qcos.workers.jobs import CRASHED, OK, SIMULATION, TIMEOUT, Chunk, Outcome, WorkerConfig

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Environment variables a worker never needs (secrets of the parent).
_SECRET_ENV = ("BRIDGE_API_KEY", "QCOS_API_KEY")

_launcher_lock = threading.Lock()
_launcher_queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] | None = None


def _launcher_loop(jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]]) -> None:
    while True:
        function, future = jobs.get()
        try:
            future.set_result(function())
        except BaseException as error:
            future.set_exception(error)


def on_launcher(function: Callable[[], T]) -> T:
    """Run ``function`` on the process-wide launcher thread (which lives as long as the process)."""
    global _launcher_queue
    with _launcher_lock:
        if _launcher_queue is None:
            _launcher_queue = queue.SimpleQueue()
            threading.Thread(target=_launcher_loop, args=(_launcher_queue,), daemon=True,
                             name="qcos-worker-launcher").start()
        jobs = _launcher_queue
    future: Future[T] = Future()
    jobs.put((function, future))
    return future.result()


def _forward_stderr(stream: IO[bytes], label: str, pid: int) -> None:
    """Log what a worker writes to stderr (it normally writes nothing)."""
    try:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip()
            if line and not sys.is_finalizing():
                logger.warning("%s worker (pid %d): %s", label, pid, line[:500])
    except (OSError, ValueError):
        pass
    finally:
        stream.close()


class WorkerProcess:
    """One warm worker child, used by one job at a time."""

    def __init__(self, config: WorkerConfig, index: int) -> None:
        self.config = config
        self.index = index
        self.process: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None
        self.chunks_done = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _spawn(self, child_fd: int) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k not in _SECRET_ENV}
        payload = json.dumps(self.config.payload(os.getpid()))
        return subprocess.Popen(
            [self.config.python, "-m", "qcos.workers.aer", str(child_fd), payload],
            pass_fds=(child_fd,), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # the OpenQASM importers print diagnostics quoting the input
            stderr=subprocess.PIPE, env=env,
            start_new_session=True,  # Ctrl-C in the terminal is the parent's to handle
        )

    def start(self) -> None:
        """Start the child and wait until it has imported Aer and run its warm-up circuit."""
        parent_sock, child_sock = socket.socketpair()
        try:
            process = on_launcher(lambda: self._spawn(child_sock.fileno()))
        except OSError as error:
            parent_sock.close()
            raise WorkerError(f"cannot start an Aer worker with {self.config.python}: {error}") from error
        finally:
            child_sock.close()
        assert process.stderr is not None
        threading.Thread(target=_forward_stderr, args=(process.stderr, self.config.label, process.pid),
                         daemon=True, name=f"qcos-worker-stderr-{process.pid}").start()
        self.process, self.conn = process, Connection(parent_sock.detach())
        self._await_ready()

    def _await_ready(self) -> None:
        conn, process = self.conn, self.process
        assert conn is not None and process is not None
        name = f"{self.config.label} worker {self.index}"
        deadline = time.monotonic() + self.config.startup_timeout_s
        while not conn.poll(0.2):
            if process.poll() is not None:
                self.kill()
                raise WorkerError(f"{name} exited with code {process.returncode} while starting")
            if time.monotonic() > deadline:
                self.kill()
                raise WorkerError(f"{name} did not start within {self.config.startup_timeout_s:.0f}s")
        try:
            kind, detail = conn.recv()
        except (EOFError, OSError) as error:
            self.kill()
            raise WorkerError(f"{name} died while starting: {error}") from error
        if kind != "ready":
            self.kill()
            raise WorkerError(f"{name} could not start: {detail}")
        logger.debug("%s ready (pid %s, warm-up %ss)", name, process.pid, detail.get("warm_up_s"))

    def exchange(self, chunks: Sequence[Chunk], timeout_s: float | None) -> tuple[list[Outcome], bool]:
        """Run ``chunks`` in order; return the outcomes so far and whether the worker must be replaced.

        On a crash or timeout the list ends with that chunk's CRASHED or TIMEOUT outcome;
        the chunks after it are not in the list.
        """
        conn = self.conn
        if conn is None or not self.alive():
            return [], True  # nothing was run: the caller sends the chunks to another worker
        circuits: list[str | bytes] = []
        where: dict[str | bytes, int] = {}
        options: list[dict[str, Any]] = []
        options_at: dict[int, int] = {}  # by identity: chunks of one call share one mapping
        items = []
        for chunk in chunks:  # each circuit and each options mapping is sent (and parsed) once
            index = where.setdefault(chunk.circuit, len(circuits))
            if index == len(circuits):
                circuits.append(chunk.circuit)
            at = options_at.setdefault(id(chunk.options), len(options))
            if at == len(options):
                options.append(dict(chunk.options))
            items.append((index, int(chunk.shots), chunk.seed, at, chunk.parameters))
        try:
            conn.send(("run", circuits, options, items))
        except OSError as error:
            logger.warning("worker %d (pid %s) unreachable: %s", self.index, self.pid, error)
            return [], True
        outcomes: list[Outcome] = []
        for chunk in chunks:
            limit = None if timeout_s is None else timeout_s * chunk.points  # a group: the timeout per point
            try:
                ready = conn.poll(limit)
                message = conn.recv() if ready else None
            except (EOFError, OSError):
                code = self._reap()
                outcomes.append(Outcome(CRASHED, message=f"the worker process died (exit code {code})"))
                return outcomes, True
            if message is None:
                self.kill()
                outcomes.append(Outcome(TIMEOUT, message=f"the simulation ran longer than the timeout of "
                                                         f"{limit:g}s; its worker was stopped and replaced"))
                return outcomes, True
            outcomes.append(_outcome(chunk, message))
            self.chunks_done += 1
        return outcomes, False

    def _reap(self, grace_s: float = 1.0) -> int | None:
        """After EOF: give the child a moment to exit on its own (its real exit code), then kill it."""
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace_s)
        return self.kill()

    def kill(self) -> int | None:
        """Stop the child by pid (its whole session), close the channel; return its exit code."""
        process = self.process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                process.kill()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a zombie that will not die
                logger.error("worker %d (pid %s) did not exit after SIGKILL", self.index, process.pid)
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        return process.returncode if process is not None else None

    def stop(self, grace_s: float = 2.0) -> None:
        """Ask the child to exit, then kill it if it does not."""
        process = self.process
        if process is not None and process.poll() is None and self.conn is not None:
            try:
                self.conn.send(("stop",))
                process.wait(timeout=grace_s)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()


def _outcome(chunk: Chunk, message: tuple[str, Any]) -> Outcome:
    """A worker's ``(code, value)`` answer as an Outcome (a parametric chunk's value: counts per point)."""
    code, value = message
    if code != OK:
        return Outcome(code, message=str(value))
    if chunk.parameters is None:
        return Outcome(OK, counts=value)
    if not isinstance(value, list) or len(value) != len(chunk.parameters):
        got = len(value) if isinstance(value, list) else type(value).__name__
        return Outcome(SIMULATION, message=f"the worker returned {got} results for {len(chunk.parameters)} points")
    return Outcome(OK, points=value)
