"""Warm Aer worker processes, so local nodes really run in parallel.

Aer keeps the GIL while it simulates, so several local nodes in threads share one core
for small circuits. A pool of worker processes (started once, through a forkserver
that has already imported Qiskit and Aer) gives each local node its own core.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from qiskit import QuantumCircuit

from qcos.exceptions import NodeExecutionError

logger = logging.getLogger(__name__)

Counts = dict[str, int]
#: One chunk for a worker: a circuit ready for Aer, its shots and its seed.
Job = tuple[QuantumCircuit, int, int | None]


def _worker_init() -> None:
    import qiskit_aer  # noqa: F401  - warm the import before the first chunk arrives


def _run_jobs(jobs: Sequence[Job], options: Mapping[str, Any]) -> list[tuple[bool, Any]]:
    """Runs in a worker: ``(True, counts)`` or ``(False, message)`` per job (picklable either way)."""
    from qcos.qvm import aer

    outcomes: list[tuple[bool, Any]] = []
    for circuit, shots, seed in jobs:
        try:
            outcomes.append((True, aer.run_counts(circuit, shots, seed, options)))
        except Exception as error:  # reported per chunk; the scheduler re-queues it
            outcomes.append((False, f"{type(error).__name__}: {error}"))
    return outcomes


class AerProcessPool:
    """A lazily started pool of ``workers`` Aer processes; rebuilt if a worker dies."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, int(workers))
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["qiskit", "qiskit_aer", "qcos.qvm.aer"])
                self._executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_init)
                logger.info("started %d Aer worker process(es)", self.workers)
            return self._executor

    def run(self, jobs: Sequence[Job], options: Mapping[str, Any], node_id: str) -> list[Counts | Exception]:
        """Run chunks in one worker; a crashed worker fails this batch and the pool restarts."""
        try:
            outcomes = self._pool().submit(_run_jobs, list(jobs), dict(options)).result()
        except BrokenProcessPool as error:
            self._reset()
            raise NodeExecutionError(node_id, f"an Aer worker process died ({error}); the pool was restarted") from error
        return [counts if ok else NodeExecutionError(node_id, counts) for ok, counts in outcomes]

    def _reset(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
