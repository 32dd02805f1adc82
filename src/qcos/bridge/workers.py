"""Warm Aer worker processes for the bridge: bounded concurrency, a queue, timeouts, restarts.

Each worker is a long-lived ``python -m qcos.bridge.worker_main`` child that imported
Qiskit and Aer once. A request takes an idle worker (or waits in a FIFO queue), sends its
jobs over a socket pair and waits for one answer per job, at most ``timeout_s`` each. A
worker that times out or dies is killed by pid and replaced in the background, so a stuck
or crashing simulation never takes the server down or blocks other requests for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from qcos.bridge.worker_main import OK
from qcos.exceptions import BridgeError

logger = logging.getLogger(__name__)

#: Outcome codes added by the pool (the worker's own codes are in worker_main).
TIMEOUT = "timeout"
CRASHED = "crashed"
NOT_RUN = "not_run"


@dataclass(frozen=True)
class Job:
    """One circuit to run: OpenQASM text, shots, optional seed and Aer method."""

    qasm: str
    shots: int
    seed: int | None = None
    method: str | None = None


@dataclass(frozen=True)
class JobResult:
    """Counts, or an error code (see worker_main / this module) with a message."""

    code: str
    counts: dict[str, int] | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.code == OK


@dataclass(frozen=True)
class WorkerConfig:
    """How worker processes are started and what they accept."""

    device: str = "CPU"
    method: str = "automatic"
    max_qubits: int = 28
    threads: int = 0  # Aer max_parallel_threads per worker (0: Aer decides)
    memory_mb: int = 0  # RLIMIT_AS of each worker in MiB (0: no limit)
    python: str = field(default_factory=lambda: sys.executable)
    startup_timeout_s: float = 180.0

    def payload(self) -> str:
        return json.dumps(
            {"device": self.device, "method": self.method, "max_qubits": self.max_qubits, "threads": self.threads,
             "memory_mb": self.memory_mb}
        )


class PoolUnavailable(BridgeError):
    """No worker can take the request now (queue full, or every worker is down)."""


class WorkerProcess:
    """One warm worker child, used by one request at a time."""

    def __init__(self, config: WorkerConfig, index: int) -> None:
        self.config = config
        self.index = index
        self.process: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None
        self.jobs_done = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the child and wait until it has imported Aer and run its warm-up circuit."""
        parent_sock, child_sock = socket.socketpair()
        env = dict(os.environ)
        env.pop("BRIDGE_API_KEY", None)  # workers never need the key
        try:
            process = subprocess.Popen(
                [self.config.python, "-m", "qcos.bridge.worker_main", str(child_sock.fileno()), self.config.payload()],
                pass_fds=(child_sock.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # the OpenQASM importers print diagnostics quoting the input
                env=env,
                start_new_session=True,  # Ctrl-C in the server's terminal is the server's to handle
            )
        except OSError as error:
            parent_sock.close()
            child_sock.close()
            raise BridgeError(f"cannot start a bridge worker with {self.config.python}: {error}") from error
        child_sock.close()
        conn = Connection(parent_sock.detach())
        self.process, self.conn = process, conn
        deadline = time.monotonic() + self.config.startup_timeout_s
        while not conn.poll(0.2):
            if process.poll() is not None:
                self.kill()
                raise BridgeError(f"bridge worker {self.index} exited with code {process.returncode} while starting")
            if time.monotonic() > deadline:
                self.kill()
                raise BridgeError(
                    f"bridge worker {self.index} did not start within {self.config.startup_timeout_s:.0f}s"
                )
        try:
            kind, detail = conn.recv()
        except (EOFError, OSError) as error:
            self.kill()
            raise BridgeError(f"bridge worker {self.index} died while starting: {error}") from error
        if kind != "ready":
            self.kill()
            raise BridgeError(f"bridge worker {self.index} could not start: {detail}")
        logger.info("bridge worker %d ready (pid %s, warm-up %ss)", self.index, process.pid, detail.get("warm_up_s"))

    def exchange(self, jobs: Sequence[Job], timeout_s: float) -> tuple[list[JobResult], bool]:
        """Run ``jobs`` in order; return their results and whether this worker must be replaced."""
        conn = self.conn
        if conn is None or not self.alive():
            return [JobResult(CRASHED, message="worker is not running")] * len(jobs), True
        try:
            conn.send(("run", [(j.qasm, j.shots, j.seed, j.method) for j in jobs]))
        except OSError as error:
            return [JobResult(CRASHED, message=f"worker unreachable: {error}")] * len(jobs), True
        results: list[JobResult] = []
        for index in range(len(jobs)):
            try:
                ready = conn.poll(timeout_s)
                message = conn.recv() if ready else None
            except (EOFError, OSError):
                if self.process is not None:  # the channel closes as the process exits: let it finish
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.process.wait(timeout=2.0)  # its own exit code, not the -9 of our kill
                self.kill()
                code = self.process.returncode if self.process is not None else None
                results.append(JobResult(CRASHED, message=f"the worker process died (exit code {code}); it was replaced"))
                results.extend(JobResult(NOT_RUN, message="not run: the worker died on an earlier circuit") for _ in jobs[index + 1:])
                return results, True
            if message is None:
                self.kill()
                results.append(JobResult(
                    TIMEOUT, message=f"the simulation ran longer than the bridge's timeout of {timeout_s:g}s; "
                    "the worker was stopped and replaced"))
                results.extend(JobResult(NOT_RUN, message="not run: the worker timed out on an earlier circuit") for _ in jobs[index + 1:])
                return results, True
            code, value = message
            results.append(JobResult(OK, counts=value) if code == OK else JobResult(code, message=str(value)))
            self.jobs_done += 1
        return results, False

    def kill(self) -> None:
        """Stop the child by pid (its whole session) and close the channel."""
        process = self.process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                process.kill()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a zombie that will not die
                logger.error("bridge worker %d (pid %s) did not exit after SIGKILL", self.index, process.pid)
        if self.conn is not None:
            self.conn.close()
            self.conn = None

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


class WorkerPool:
    """``size`` warm workers shared by all requests; the rest wait in a FIFO queue.

    Start the processes with :meth:`start` (blocking, before the event loop), then call
    :meth:`run` / :meth:`run_many` from the server's event loop.
    """

    def __init__(self, config: WorkerConfig, size: int, *, timeout_s: float = 300.0, max_queue: int = 1000) -> None:
        if size < 1:
            raise BridgeError(f"a bridge needs at least one worker, got {size}")
        self.config = config
        self.size = size
        self.timeout_s = timeout_s
        self.max_queue = max_queue
        self._workers = [WorkerProcess(config, i) for i in range(size)]
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="qcos-bridge-io")
        self._idle: asyncio.Queue[WorkerProcess] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting = 0
        self._busy = 0
        self._down = 0  # workers being restarted
        self._restarts = 0
        self._completed = 0
        self._dropped = 0  # queued jobs whose client went away before a worker was free
        self._closed = False
        self._lock = threading.Lock()

    # -- lifetime -----------------------------------------------------------
    def start(self) -> None:
        """Start every worker in parallel; raise BridgeError if any cannot start."""
        errors: list[BaseException] = []

        def start_one(worker: WorkerProcess) -> None:
            try:
                worker.start()
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=start_one, args=(w,), daemon=True) for w in self._workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            self.close()
            raise BridgeError(f"the bridge workers could not start: {errors[0]}") from errors[0]

    def attach(self) -> None:
        """Bind to the running event loop (call from the server's startup)."""
        self._loop = asyncio.get_running_loop()
        self._idle = asyncio.Queue()
        for worker in self._workers:
            self._idle.put_nowait(worker)

    def close(self) -> None:
        """Stop every worker (by pid) and the I/O threads."""
        self._closed = True
        for worker in self._workers:
            worker.stop()
        self._threads.shutdown(wait=False, cancel_futures=True)

    # -- running --------------------------------------------------------------
    def _admit(self, n_slices: int) -> None:
        """Refuse work that cannot be queued (503 upstream) before any of it starts."""
        if self._idle is None or self._loop is None:
            raise BridgeError("the worker pool is not attached to an event loop (call attach() at startup)")
        if self._down >= self.size:
            raise PoolUnavailable("every bridge worker is restarting; retry in a few seconds")
        if self._waiting + n_slices > self.max_queue + self._idle.qsize():
            raise PoolUnavailable(
                f"the bridge queue is full ({self._waiting} jobs waiting, limit {self.max_queue}); retry later"
            )

    async def run(self, jobs: Sequence[Job], *, admitted: bool = False) -> list[JobResult]:
        """Run ``jobs`` one after another on one worker."""
        if not admitted:
            self._admit(1)
        assert self._idle is not None and self._loop is not None
        self._waiting += 1
        try:
            worker = await self._idle.get()
        except asyncio.CancelledError:
            with self._lock:
                self._dropped += len(jobs)
            raise
        finally:
            self._waiting -= 1
        with self._lock:
            self._busy += 1
        future = self._loop.run_in_executor(self._threads, self._exchange, worker, list(jobs))
        return await asyncio.shield(future)

    async def run_many(self, jobs: Sequence[Job], slice_size: int = 64) -> list[JobResult]:
        """Spread ``jobs`` over the workers in slices; results come back in order."""
        if not jobs:
            return []
        per_worker = -(-len(jobs) // self.size)
        step = max(1, min(slice_size, per_worker))
        slices = [jobs[i:i + step] for i in range(0, len(jobs), step)]
        self._admit(len(slices))
        parts = await asyncio.gather(*(self.run(part, admitted=True) for part in slices))
        return [result for part in parts for result in part]

    def _exchange(self, worker: WorkerProcess, jobs: list[Job]) -> list[JobResult]:
        """In an I/O thread: run the jobs, then hand the worker back (or replace it first)."""
        try:
            if not worker.alive():  # died while idle (OOM killer, kill -9): replace it, then run
                logger.warning("bridge worker %d (pid %s) died while idle; restarting it", worker.index, worker.pid)
                worker.kill()
                worker.start()
                with self._lock:
                    self._restarts += 1
            results, replace = worker.exchange(jobs, self.timeout_s)
        except BaseException as error:  # pragma: no cover - defensive: never lose a worker slot
            logger.exception("bridge worker %d: unexpected error", worker.index)
            results, replace = [JobResult(CRASHED, message=f"bridge error: {error}")] * len(jobs), True
        with self._lock:
            self._completed += len(jobs)
            self._busy -= 1
        if replace:
            with self._lock:
                self._down += 1
            threading.Thread(target=self._replace, args=(worker,), daemon=True,
                             name=f"qcos-bridge-restart-{worker.index}").start()
        else:
            self._release(worker)
        return results

    def _release(self, worker: WorkerProcess) -> None:
        loop, idle = self._loop, self._idle
        if loop is None or idle is None or loop.is_closed():
            return

        loop.call_soon_threadsafe(idle.put_nowait, worker)

    def _replace(self, worker: WorkerProcess) -> None:
        """Kill and restart a worker, retrying with backoff until it is back or the pool closes."""
        worker.kill()
        delay = 1.0
        while not self._closed:
            try:
                worker.start()
            except BridgeError as error:
                logger.error("restarting bridge worker %d failed: %s; retrying in %.0fs", worker.index, error, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            with self._lock:
                self._restarts += 1
                self._down -= 1
            logger.warning("bridge worker %d replaced (new pid %s)", worker.index, worker.pid)
            if self._closed:
                worker.stop()
                return
            self._release(worker)
            return

    # -- reporting -------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Numbers for /health: workers, busy, queue depth, restarts, jobs done."""
        with self._lock:
            down, restarts, completed, busy = self._down, self._restarts, self._completed, self._busy
            dropped = self._dropped
        return {
            "workers": self.size,
            "workers_available": self.size - down,
            "busy": busy,
            "queue_depth": self._waiting,
            "restarts": restarts,
            "jobs_completed": completed,
            "jobs_dropped": dropped,
            "worker_pids": [w.pid for w in self._workers],
        }
