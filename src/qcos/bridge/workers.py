"""The bridge's side of the shared worker pool: asyncio admission, a bounded FIFO queue, stats.

Simulations run in :mod:`qcos.workers` (warm ``python -m qcos.workers.aer`` processes with
timeouts, restarts, memory caps and poison-circuit handling). This module only decides
when a request may take a worker: at most ``size`` jobs run at once, the rest wait in a
FIFO queue of at most ``max_queue`` jobs, and a job whose client went away leaves the queue.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from qcos.circuits.noise import RUN_OPTION_KEY
from qcos.exceptions import BridgeError, PoolUnavailable, WorkerError
from qcos.workers import Chunk, Outcome, WorkerConfig, WorkerPool

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One circuit to run: OpenQASM text, shots, optional seed, Aer method and noise spec."""

    qasm: str
    shots: int
    seed: int | None = None
    method: str | None = None
    #: canonical noise spec (:mod:`qcos.circuits.noise`), rebuilt into a NoiseModel by the worker; None = ideal
    noise: Mapping[str, Any] | None = None

    def chunk(self) -> Chunk:
        options: dict[str, Any] = {"method": self.method} if self.method else {}
        if self.noise:
            options[RUN_OPTION_KEY] = dict(self.noise)
        return Chunk(self.qasm, self.shots, self.seed, options)


class BridgePool:
    """``size`` warm workers shared by all requests; the rest wait in a FIFO queue.

    Start the processes with :meth:`start` (blocking, before the event loop), then call
    :meth:`run` / :meth:`run_many` from the server's event loop.
    """

    def __init__(self, config: WorkerConfig, size: int, *, timeout_s: float = 300.0, max_queue: int = 1000) -> None:
        if size < 1:
            raise BridgeError(f"a bridge needs at least one worker, got {size}")
        self.size = size
        self.timeout_s = timeout_s
        self.max_queue = max_queue
        self.pool = WorkerPool(config, size, timeout_s=timeout_s)
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="qcos-bridge-io")
        self._slots: asyncio.Semaphore | None = None
        self._waiting = 0
        self._busy = 0
        self._dropped = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start every worker; raise BridgeError if none can start."""
        try:
            self.pool.start()
        except WorkerError as error:
            raise BridgeError(str(error).replace("Aer workers", "bridge workers")) from error

    def attach(self) -> None:
        """Bind to the running event loop (call from the server's startup)."""
        self._slots = asyncio.Semaphore(self.size)

    def close(self) -> None:
        """Stop every worker (by pid) and the I/O threads."""
        self.pool.close()
        self._threads.shutdown(wait=False, cancel_futures=True)

    def _admit(self, n_jobs: int) -> None:
        """Refuse work that cannot be queued (503 upstream) before any of it starts."""
        if self._slots is None:
            raise BridgeError("the worker pool is not attached to an event loop (call attach() at startup)")
        if self.pool.stats()["workers_available"] <= 0:
            raise PoolUnavailable("every bridge worker is restarting; retry in a few seconds")
        if self._waiting + n_jobs > self.max_queue + self.size - self._busy:
            raise PoolUnavailable(
                f"the bridge queue is full ({self._waiting} jobs waiting, limit {self.max_queue}); retry later")

    async def run(self, jobs: Sequence[Job], *, admitted: bool = False) -> list[Outcome]:
        """Run ``jobs`` one after another on one worker."""
        if not admitted:
            self._admit(1)
        assert self._slots is not None
        self._waiting += 1
        try:
            await self._slots.acquire()
        except asyncio.CancelledError:
            with self._lock:
                self._dropped += len(jobs)
            raise
        finally:
            self._waiting -= 1
        self._busy += 1
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._threads, self.pool.run, [job.chunk() for job in jobs])
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        return await asyncio.shield(future)

    def _release(self) -> None:
        self._busy -= 1
        if self._slots is not None:
            self._slots.release()

    async def run_many(self, jobs: Sequence[Job], slice_size: int = 64) -> list[Outcome]:
        """Spread ``jobs`` over the workers in slices; results come back in order."""
        if not jobs:
            return []
        per_worker = -(-len(jobs) // self.size)
        step = max(1, min(slice_size, per_worker))
        slices = [jobs[i:i + step] for i in range(0, len(jobs), step)]
        self._admit(len(slices))
        parts = await asyncio.gather(*(self.run(part, admitted=True) for part in slices))
        return [result for part in parts for result in part]

    def stats(self) -> dict[str, Any]:
        """Numbers for /health: workers, busy, queue depth, restarts, jobs done."""
        stats = self.pool.stats()
        with self._lock:
            dropped = self._dropped
        return {
            "workers": self.size,
            "workers_available": stats["workers_available"],
            "busy": self._busy,
            "queue_depth": self._waiting,
            "restarts": stats["restarts"],
            "jobs_completed": stats["chunks"],
            "jobs_dropped": dropped,
            "poison_circuits": stats["poison"],
            "worker_pids": stats["worker_pids"],
        }
