"""Spread chunks over nodes: guided self-scheduling, failover, timeouts and progress.

Each node gets ``capacity`` worker threads that pull work from one shared queue. A pull
takes about ``remaining / (2 * slots)`` eligible chunks (large at first, small near the
end) so batch-oriented backends get big batches while the tail stays balanced. A chunk
that fails or times out on a node is re-queued for other nodes; a node that fails
``max_node_failures`` times in a row is dropped for the rest of the run.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from qcos.exceptions import CircuitError, NodeExecutionError
from qcos.providers.base import ShotTask, TaskOutcome
from qcos.providers.cluster import NodeHandle
from qcos.qvm.progress import DispatchProgress, ProgressState, provider_extras
from qcos.qvm.result import ChunkRecord, FallbackCounts

logger = logging.getLogger(__name__)

#: Runs tasks on a node: one outcome per task (checked counts or an exception), in order;
#: DistributedQVM's runner is the provider's template method, NodeProvider.run_tasks.
NodeRunner = Callable[[NodeHandle, Sequence[ShotTask]], list[TaskOutcome]]


@dataclass
class Chunk:
    """A task plus its scheduling state."""

    task: ShotTask
    width: int
    attempts: int = 0
    failed_on: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


@dataclass
class SchedulerOutcome:
    records: dict[tuple[int, int], ChunkRecord]
    failed: list[Chunk]
    per_node: dict[str, dict[str, float]]


class ChunkScheduler:
    """Runs a list of chunks on a set of nodes until each has counts or cannot run anywhere."""

    def __init__(
        self,
        handles: Sequence[NodeHandle],
        runner: NodeRunner,
        *,
        max_attempts: int = 4,
        max_node_failures: int = 2,
        timeout_s: float | None = None,
        max_batch: int = 256,
        progress: bool | None = None,
        on_record: Callable[[ShotTask, ChunkRecord], None] | None = None,
    ) -> None:
        self._on_record = on_record
        self._handles = [h for h in handles if h.spec.online]
        self._runner = runner
        self._max_attempts = max_attempts
        self._max_node_failures = max_node_failures
        self._timeout_s = timeout_s
        self._max_batch = max_batch
        self._progress_flag = progress
        self._cond = threading.Condition()
        self._pending: deque[Chunk] = deque()
        self._inflight = 0
        self._records: dict[tuple[int, int], ChunkRecord] = {}
        self._failed: list[Chunk] = []
        self._dead: set[str] = set()
        self._consecutive_failures: dict[str, int] = {}
        self._per_node: dict[str, dict[str, float]] = {}
        self._live_slots = 0
        self._busy: dict[str, int] = {}
        self._done = 0
        self._bar: DispatchProgress | None = None

    # -- public -----------------------------------------------------------
    def run(self, chunks: Sequence[Chunk]) -> SchedulerOutcome:
        self._pending.extend(chunks)
        self._per_node = {h.spec.node_id: {"chunks": 0, "shots": 0, "busy_s": 0.0, "failures": 0} for h in self._handles}
        self._fail_unrunnable()
        total = len(chunks)
        self._bar = self._make_progress(total).start()
        threads = []
        for handle in self._handles:
            for slot in range(handle.spec.capacity):
                thread = threading.Thread(
                    target=self._worker, args=(handle,), name=f"qcos-{handle.spec.node_id}-{slot}", daemon=True
                )
                threads.append(thread)
        self._live_slots = len(threads)
        logger.info(
            "dispatching %d chunk(s) to %d node(s): %s",
            total, len(self._handles), ", ".join(h.spec.node_id for h in self._handles) or "-",
        )
        try:
            for thread in threads:
                thread.start()
            with self._cond:
                while (self._pending or self._inflight) and self._live_slots > 0:
                    self._cond.wait(0.5)
                if self._pending:  # every worker is gone: whatever is left cannot run
                    for chunk in self._pending:
                        chunk.errors.append("no live node left to run it")
                        self._failed.append(chunk)
                    self._pending.clear()
        finally:
            with self._cond:
                self._pending.clear()
                self._cond.notify_all()
            self._bar.close()
        return SchedulerOutcome(dict(self._records), list(self._failed), self._per_node)

    # -- workers ----------------------------------------------------------
    def _worker(self, handle: NodeHandle) -> None:
        node_id = handle.spec.node_id
        try:
            while True:
                batch = self._take(handle)
                if not batch:
                    return
                started = time.perf_counter()
                try:
                    outcomes = self._call(handle, [chunk.task for chunk in batch])
                except BaseException as error:  # the whole batch failed on this node
                    outcomes = [error] * len(batch)
                self._complete(handle, batch, outcomes, time.perf_counter() - started)
        finally:
            with self._cond:
                self._live_slots -= 1
                self._cond.notify_all()
            logger.debug("worker for %s finished", node_id)

    def _take(self, handle: NodeHandle) -> list[Chunk]:
        node_id, max_qubits = handle.spec.node_id, handle.spec.max_qubits
        with self._cond:
            while True:
                if node_id in self._dead or not handle.spec.online:  # a provider may mark it offline mid-run
                    return []
                eligible = [c for c in self._pending if c.width <= max_qubits and node_id not in c.failed_on]
                if eligible:
                    share = math.ceil(len(eligible) / (2 * max(1, self._live_slots)) * handle.spec.weight)
                    batch = eligible[: max(1, min(share, self._max_batch))]
                    taken = {id(c) for c in batch}
                    self._pending = deque(c for c in self._pending if id(c) not in taken)
                    self._inflight += len(batch)
                    self._busy[node_id] = self._busy.get(node_id, 0) + 1
                    return batch
                if not self._inflight:
                    return []  # nothing in flight could come back to this node
                self._cond.wait(0.5)

    def _call(self, handle: NodeHandle, tasks: list[ShotTask]) -> list[TaskOutcome]:
        timeout = handle.spec.options.get("chunk_timeout_s", self._timeout_s)
        if not timeout:
            return self._runner(handle, tasks)
        answer: Future[list[TaskOutcome]] = Future()

        def target() -> None:
            try:
                answer.set_result(self._runner(handle, tasks))
            except BaseException as error:
                answer.set_exception(error)

        thread = threading.Thread(target=target, daemon=True, name=f"qcos-call-{handle.spec.node_id}")
        thread.start()
        thread.join(float(timeout) * len(tasks))
        if thread.is_alive():
            raise NodeExecutionError(
                handle.spec.node_id, f"timed out after {float(timeout) * len(tasks):.1f}s on {len(tasks)} chunk(s)"
            )
        return answer.result()  # the runner's outcomes, or what it raised

    def _complete(self, handle: NodeHandle, batch: list[Chunk], outcomes: list[TaskOutcome], elapsed: float) -> None:
        node_id = handle.spec.node_id
        if not isinstance(outcomes, list) or len(outcomes) != len(batch):
            error = NodeExecutionError(node_id, f"returned {len(outcomes) if isinstance(outcomes, list) else type(outcomes).__name__} outcomes for {len(batch)} chunks")
            outcomes = [error] * len(batch)
        failures: list[tuple[Chunk, str]] = []
        finished: list[tuple[ShotTask, ChunkRecord]] = []
        with self._cond:
            self._inflight -= len(batch)
            self._busy[node_id] = self._busy.get(node_id, 1) - 1
            stats = self._per_node[node_id]
            stats["busy_s"] += elapsed
            per_chunk = elapsed / max(1, len(batch))
            for chunk, outcome in zip(batch, outcomes, strict=True):
                problem = _problem(outcome)
                chunk.attempts += 1
                if problem is None:
                    assert isinstance(outcome, dict)
                    task = chunk.task
                    record = ChunkRecord(
                        task.circuit_index, task.chunk_index, task.shots, task.seed, node_id,
                        chunk.attempts, per_chunk, dict(outcome), isinstance(outcome, FallbackCounts),
                        getattr(outcome, "sim_s", None),
                    )
                    self._records[(task.circuit_index, task.chunk_index)] = record
                    finished.append((task, record))
                    stats["chunks"] += 1
                    stats["shots"] += task.shots
                    self._done += 1
                    if self._bar is not None:
                        self._bar.advance(1)
                elif isinstance(outcome, CircuitError):  # any node would fail it: final, node not blamed
                    chunk.errors.append(f"{node_id}: {problem}")
                    self._failed.append(chunk)
                else:
                    chunk.failed_on.add(node_id)
                    chunk.errors.append(f"{node_id}: {problem}")
                    failures.append((chunk, problem))
            if failures:
                stats["failures"] += len(failures)
                self._consecutive_failures[node_id] = self._consecutive_failures.get(node_id, 0) + 1
                if self._consecutive_failures[node_id] >= self._max_node_failures and node_id not in self._dead:
                    self._dead.add(node_id)
                    logger.warning("node %s failed %d times in a row; dropping it for this run",
                                   node_id, self._consecutive_failures[node_id])
                for chunk, _ in reversed(failures):
                    self._pending.appendleft(chunk)
                self._fail_unrunnable()
            else:
                self._consecutive_failures[node_id] = 0
            self._cond.notify_all()
        if self._on_record is not None:
            for task, record in finished:  # outside the lock: the callback may write to disk
                self._on_record(task, record)
        if failures:
            keys = ", ".join(chunk.task.key for chunk, _ in failures[:5])
            logger.warning("node %s failed %d chunk(s) (%s%s): %s; re-queued elsewhere",
                           node_id, len(failures), keys, ", ..." if len(failures) > 5 else "", failures[0][1])

    def _fail_unrunnable(self) -> None:
        """Move pending chunks that no live node can take (or that ran out of attempts) to failed."""
        live = [h.spec for h in self._handles if h.spec.node_id not in self._dead]
        keep: deque[Chunk] = deque()
        for chunk in self._pending:
            if chunk.attempts >= self._max_attempts:
                chunk.errors.append(f"gave up after {chunk.attempts} attempts")
                self._failed.append(chunk)
            elif not any(s.max_qubits >= chunk.width and s.node_id not in chunk.failed_on for s in live):
                self._failed.append(chunk)
            else:
                keep.append(chunk)
        self._pending = keep

    def _make_progress(self, total: int) -> DispatchProgress:
        """Progress lines every few seconds in the log; a bar when ``progress`` (default: a TTY)."""
        show = self._progress_flag
        if show is None:
            show = sys.stderr.isatty()
        return DispatchProgress(total, self._progress_state, bar=bool(show),
                                extras=provider_extras(h.provider for h in self._handles))

    def _progress_state(self) -> ProgressState:
        with self._cond:
            return ProgressState(done=self._done, failed=len(self._failed), pending=len(self._pending),
                                 inflight=self._inflight, busy=[n for n, k in self._busy.items() if k > 0],
                                 nodes=len(self._handles))


def _problem(outcome: TaskOutcome) -> str | None:
    """Why an outcome is unusable, or None for counts (their content is checked by NodeProvider.run_tasks)."""
    if isinstance(outcome, BaseException):
        return f"{type(outcome).__name__}: {outcome}"
    if not isinstance(outcome, dict):
        return f"returned {type(outcome).__name__}, expected counts"
    return None


