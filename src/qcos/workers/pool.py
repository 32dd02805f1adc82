"""A pool of warm Aer workers: timeouts that kill and replace, restarts with backoff, poison circuits.

``run(chunks)`` blocks until every chunk has an outcome. A worker that dies on a chunk is
replaced and the chunk retried once on a fresh worker; a second death marks the circuit
as poison (remembered, so it is never run again by this pool). A chunk that runs past
the timeout fails with TIMEOUT and its worker is killed and replaced, so nothing keeps
burning CPU. Chunks after a failed one run on another worker.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from qcos.exceptions import WorkerError, WorkerPoolUnavailable
from qcos.workers.jobs import CRASHED, NOT_RUN, POISON, TIMEOUT, Chunk, Outcome, WorkerConfig
from qcos.workers.process import WorkerProcess

logger = logging.getLogger(__name__)

#: A circuit that killed this many workers is poison.
MAX_DEATHS = 2
_POISON_MEMORY = 4096
_MAX_BACKOFF_S = 30.0
#: Failed starts in a row after which a job waiting for a worker gives up (workers keep restarting).
_MAX_FAILED_STARTS = 3


def _digest(chunk: Chunk) -> str:
    """What a poison verdict is remembered by: the circuit, and the points of a parametric chunk."""
    payload = chunk.circuit
    data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    digest = hashlib.sha256(data)
    if chunk.parameters is not None:
        digest.update(repr(chunk.parameters).encode())
    return digest.hexdigest()


class WorkerPool:
    """``size`` warm workers started on first use (or by :meth:`start`); thread-safe."""

    def __init__(self, config: WorkerConfig, size: int, *, timeout_s: float | None = None) -> None:
        if size < 1:
            raise WorkerError(f"a worker pool needs at least one worker, got {size}")
        self.config = config
        self.size = size
        self.timeout_s = timeout_s
        self._workers = [WorkerProcess(config, i) for i in range(size)]
        self._idle: list[WorkerProcess] = []
        self._cond = threading.Condition()
        self._started = False
        self._closed = False
        self._down = 0
        self._start_error: BaseException | None = None
        self._failed_starts = 0  # in a row, over all workers
        self._poison: OrderedDict[str, str] = OrderedDict()
        self._stats = {"restarts": 0, "chunks": 0, "timeouts": 0, "crashes": 0, "poison": 0}

    # -- lifetime -------------------------------------------------------------
    def start(self) -> None:
        """Start every worker in parallel; raise WorkerError if none can start."""
        with self._cond:
            if self._started or self._closed:
                return
            self._started = True
            self._down = self.size
        threads = [threading.Thread(target=self._bring_up, args=(w, False, False), daemon=True,
                                    name=f"qcos-worker-start-{w.index}") for w in self._workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with self._cond:
            error, running = self._start_error, len(self._idle)
        if not running and error is not None:
            self.close()
            raise WorkerError(f"the Aer workers could not start: {error}") from error
        for worker in self._workers:
            if not worker.alive():  # some started, this one did not: keep trying in the background
                threading.Thread(target=self._bring_up, args=(worker, False, True), daemon=True,
                                 name=f"qcos-worker-retry-{worker.index}").start()
        logger.info("started %d %s worker process(es) (pids %s)", running, self.config.label,
                    ", ".join(str(w.pid) for w in self._workers if w.alive()))

    def close(self) -> None:
        """Stop every worker (by pid). Safe to call twice, and from any thread."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._idle.clear()
            self._cond.notify_all()
        for worker in self._workers:
            worker.stop()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- running --------------------------------------------------------------
    def run(self, chunks: Sequence[Chunk], *, timeout_s: float | None = None) -> list[Outcome]:
        """One outcome per chunk, in order. ``timeout_s`` (default: the pool's) bounds each chunk."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        outcomes: list[Outcome | None] = [None] * len(chunks)
        deaths: dict[int, int] = {}
        todo = list(range(len(chunks)))
        for i in todo:
            reason = self._poison.get(_digest(chunks[i]))
            if reason is not None:
                outcomes[i] = Outcome(POISON, message=reason)
        todo = [i for i in todo if outcomes[i] is None]
        while todo:
            try:
                worker = self._acquire()
            except WorkerPoolUnavailable as error:
                for i in todo:
                    outcomes[i] = Outcome(NOT_RUN, message=str(error))
                break
            done, replace = worker.exchange([chunks[i] for i in todo], timeout)
            for i, outcome in zip(todo, done, strict=False):
                outcomes[i] = outcome
            self._finish(worker, len(done), replace)
            todo = todo[len(done):]
            if replace:
                todo = self._after_failure(chunks, outcomes, deaths, done, todo)
        return [o if o is not None else Outcome(NOT_RUN, message="not run") for o in outcomes]

    @staticmethod
    def _index_of(outcomes: list[Outcome | None], outcome: Outcome) -> int:
        return next(i for i, o in enumerate(outcomes) if o is outcome)

    def _after_failure(self, chunks: Sequence[Chunk], outcomes: list[Outcome | None], deaths: dict[int, int],
                       done: list[Outcome], todo: list[int]) -> list[int]:
        """After a crash, retry the chunk once (alone, first) or mark its circuit as poison."""
        if done and done[-1].code == TIMEOUT:
            with self._cond:
                self._stats["timeouts"] += 1
            logger.warning("%s", done[-1].message)
        if not done or done[-1].code != CRASHED:
            return todo
        index = self._index_of(outcomes, done[-1])
        deaths[index] = deaths.get(index, 0) + 1
        with self._cond:
            self._stats["crashes"] += 1
        if deaths[index] < MAX_DEATHS:
            logger.warning("an Aer worker died on a chunk (%s); retrying it once on a fresh worker",
                           done[-1].message)
            outcomes[index] = None
            return [index, *todo]
        reason = (f"the circuit killed an Aer worker {deaths[index]} times ({done[-1].message}); "
                  "it is not run again")
        self._remember_poison(chunks[index], reason)
        outcomes[index] = Outcome(POISON, message=reason)
        return todo

    def _remember_poison(self, chunk: Chunk, reason: str) -> None:
        with self._cond:
            self._poison[_digest(chunk)] = reason
            while len(self._poison) > _POISON_MEMORY:
                self._poison.popitem(last=False)
            self._stats["poison"] += 1
        logger.warning("poison circuit: %s", reason)

    def _acquire(self) -> WorkerProcess:
        if not self._started:
            self.start()
        with self._cond:
            while True:
                if self._closed:
                    raise WorkerPoolUnavailable("the worker pool is closed")
                while self._idle:
                    worker = self._idle.pop(0)  # FIFO: every worker gets used, a dead one is noticed
                    if worker.alive():
                        return worker
                    logger.warning("%s worker %d (pid %s) died while idle; restarting it",
                                   self.config.label, worker.index, worker.pid)
                    self._down += 1
                    threading.Thread(target=self._bring_up, args=(worker, True, True), daemon=True,
                                     name=f"qcos-worker-restart-{worker.index}").start()
                if self._down >= self.size and self._failed_starts >= _MAX_FAILED_STARTS:
                    raise WorkerPoolUnavailable(f"no Aer worker is running: {self._start_error}")
                self._cond.wait(0.5)

    def _finish(self, worker: WorkerProcess, n_done: int, replace: bool) -> None:
        with self._cond:
            self._stats["chunks"] += n_done
            if not replace:
                if not self._closed:
                    self._idle.append(worker)
                    self._cond.notify()
                return
            self._down += 1
        threading.Thread(target=self._bring_up, args=(worker, True, True), daemon=True,
                         name=f"qcos-worker-restart-{worker.index}").start()

    def _bring_up(self, worker: WorkerProcess, restart: bool, retry: bool) -> None:
        """(Re)start a worker; with ``retry``, back off and try again until it is up or the pool closes."""
        worker.kill()
        delay = 0.5
        while not self._closed:
            try:
                worker.start()
            except WorkerError as error:
                with self._cond:
                    self._start_error = error
                    self._failed_starts += 1
                    self._cond.notify_all()
                if not retry:
                    return
                logger.error("starting %s worker %d failed: %s; retrying in %.1fs",
                             self.config.label, worker.index, error, delay)
                time.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF_S)
                continue
            with self._cond:
                self._down -= 1
                self._start_error = None
                self._failed_starts = 0
                if restart:
                    self._stats["restarts"] += 1
                if self._closed:
                    break
                self._idle.append(worker)
                self._cond.notify()
            if restart:
                logger.info("%s worker %d replaced (new pid %s)", self.config.label, worker.index, worker.pid)
            return
        worker.stop()

    # -- reporting -------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Numbers for logs and /health: workers, available, idle, restarts, chunks done."""
        with self._cond:
            return {
                "workers": self.size,
                "workers_available": self.size - self._down if self._started else self.size,
                "idle": len(self._idle),
                **self._stats,
                "worker_pids": [w.pid for w in self._workers],
            }

    def pids(self) -> list[int]:
        """Pids of the running workers (for tests and diagnostics)."""
        return [w.pid for w in self._workers if w.pid is not None and w.alive()]
