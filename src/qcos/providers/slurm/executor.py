"""The dispatcher: ShotTasks -> job arrays through submitit, with retries, progress and cancel.

One :class:`SlurmDispatcher` serves a provider. ``run(tasks)`` may be called from many
threads at once (DistributedQVM calls ``execute_batch`` from one thread per node):
requests arriving within ``gather_s`` of each other are merged and split into array
tasks of at most ``circuits_per_task`` chunks, so a batch costs one ``sbatch`` whatever
the number of nodes. A single monitor thread polls Slurm (one ``sacct`` call per tick,
through submitit's shared watcher), collects results as tasks finish, resubmits failed
tasks (bounded) and cancelled ones (once), and routes counts back to each caller.
What differs between Slurm and the local/debug executors is asked of an
:class:`~qcos.providers.slurm.kinds.ExecutorKind`.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from qcos.exceptions import NodeExecutionError, SlurmError
from qcos.providers.base import ShotTask, TaskOutcome
from qcos.providers.slurm.folders import private_folder
from qcos.providers.slurm.jobs import (
    DispatchStats,
    Group,
    Outcome,
    Request,
    as_counts,
    load_result,
    split_groups,
    stderr_tail,
    submission_message,
)
from qcos.providers.slurm.kinds import executor_kind
from qcos.providers.slurm.progress import ChunkBar, progress_line
from qcos.providers.slurm.settings import SlurmSettings
from qcos.providers.slurm.store import ResultStore, cache_key
from qcos.providers.slurm.task import ChunkRunner, ChunkSpec, TaskFailure, failure_retryable
from qcos.workers.chunking import chunk_work

logger = logging.getLogger(__name__)


class SlurmDispatcher:
    """Runs ShotTasks as submitit job arrays (Slurm, or the local/debug executors)."""

    def __init__(self, settings: SlurmSettings) -> None:
        self.settings = settings
        self.kind = executor_kind(settings)
        self.stats = DispatchStats()
        self.store = ResultStore(settings.results_folder)
        self._aer_options = settings.task_aer_options()
        self._executor = make_executor(settings)
        self._cond = threading.Condition()
        self._incoming: list[Request] = []
        self._first_incoming = 0.0
        self._queued: list[Group] = []
        self._live: list[Group] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self._bar = ChunkBar(settings.progress, f"slurm {settings.job_name}")
        self._last_sacct = 0.0
        self._split_waiting = False
        atexit.register(self._cancel_at_exit)

    # -- public -----------------------------------------------------------
    def run(self, tasks: Sequence[ShotTask], node_id: str = "slurm") -> list[TaskOutcome]:
        """Run tasks and return one outcome per task: counts, or an exception for a task that failed.

        Ctrl-C cancels the jobs this dispatcher has in flight (finished chunks stay in the
        result store and are reused by the next run with the same seed) and re-raises.
        """
        request = self.submit(tasks, node_id)
        try:
            while not request.done.wait(0.2):
                if self._closed:
                    raise SlurmError("the Slurm dispatcher was closed while a run was waiting")
        except KeyboardInterrupt:
            cancelled = self.cancel_all()
            logger.warning("interrupted: cancelled %d Slurm job(s); finished chunks are kept in %s",
                           cancelled, self.settings.results_folder)
            raise
        return list(request.outcomes)

    def submit(self, tasks: Sequence[ShotTask], node_id: str = "slurm") -> Request:
        """Queue tasks without waiting; ``request.done`` is set once every outcome is in."""
        if self._closed:
            raise SlurmError("this Slurm dispatcher is closed; build a new cluster")
        request = Request(list(tasks), node_id, [None] * len(tasks), len(tasks))
        if not tasks:
            request.done.set()
            return request
        with self._cond:
            if not self._incoming:
                self._first_incoming = time.monotonic()
            self._incoming.append(request)
            self._ensure_thread()
            self._cond.notify_all()
        return request

    def live_job_ids(self) -> list[str]:
        """Ids of the submitted jobs still running or queued (array tasks as ``ARRAY_INDEX``)."""
        with self._cond:
            return [str(g.job.job_id) for g in self._live if g.job is not None]

    def cancel_all(self) -> int:
        """Cancel every job in flight and fail their chunks; return how many were cancelled."""
        with self._cond:
            groups, self._live = list(self._live), []
            queued, self._queued = list(self._queued), []
            incoming, self._incoming = list(self._incoming), []
        self._cancel_jobs([g.job for g in groups if g.job is not None])
        error = SlurmError("cancelled (interrupted or dispatcher closed) before it finished")
        with self._cond:
            for group in groups + queued:
                self._fail_group(group, str(error))
            for request in incoming:
                for index in range(len(request.tasks)):
                    if request.outcomes[index] is None:
                        request.resolve(index, error)
        return len(groups)

    def close(self) -> None:
        """Cancel what is still in flight and stop the monitor thread."""
        if self._closed:
            return
        self.cancel_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
        atexit.unregister(self._cancel_at_exit)
        self._bar.close()

    def progress_line(self) -> str | None:
        """``slurm qcos: array task(s) 3 pending, 5 running, 2 waiting to be submitted`` (None when idle)."""
        with self._cond:
            live, waiting = list(self._live), len(self._queued) + len(self._incoming)
        return progress_line(self.kind, self.settings.job_name, live, waiting, self.stats.job_ids)

    # -- monitor thread ---------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._monitor, name="qcos-slurm-monitor", daemon=True)
            self._thread.start()

    def _monitor(self) -> None:
        tick = self.kind.tick_s(self.settings)
        while True:
            with self._cond:
                if self._closed:
                    return
                if not (self._incoming or self._queued or self._live):
                    self._bar.close()
                    self._cond.wait(1.0)
                    continue
                incoming: list[Request] = []
                if self._incoming and time.monotonic() - self._first_incoming >= self.settings.gather_s:
                    incoming, self._incoming = self._incoming, []
            try:
                if incoming:
                    self._accept(incoming)
                self._submit_queued()
                self._poll()
            except Exception:  # the monitor must survive anything; fail loudly in the log
                logger.exception("Slurm dispatcher monitor error")
            with self._cond:
                self._cond.wait(tick)

    def _accept(self, requests: list[Request]) -> None:
        """Turn new requests into groups (array tasks), answering cache hits at once."""
        entries: list[tuple[Request, int]] = []
        specs: list[ChunkSpec] = []
        works: list[float] = []
        hits = 0
        for request in requests:
            texts: dict[int, str] = {}
            for index, task in enumerate(request.tasks):
                spec = self._chunk_spec(request, index, task, texts)
                if spec is None:
                    continue
                if self.settings.reuse_results and task.seed is not None:
                    counts = self.store.read(spec.key, task.shots)
                    if counts is not None:
                        hits += 1
                        with self._cond:
                            request.resolve(index, counts)
                        continue
                entries.append((request, index))
                specs.append(spec)
                works.append(chunk_work(task.circuit, task.shots, {**self._aer_options, **task.run_options}))
        groups = split_groups(entries, specs, self.settings.circuits_per_task,
                              works=works, slots=self.settings.array_parallelism)
        with self._cond:
            self.stats.cache_hits += hits
            self._queued.extend(groups)
        if hits:
            logger.info("reused %d chunk result(s) from %s", hits, self.settings.results_folder)
        self._bar.add(len(specs))

    def _chunk_spec(self, request: Request, index: int, task: ShotTask, texts: dict[int, str]) -> ChunkSpec | None:
        """The chunk a task becomes (its QASM exported once per circuit); None, answered, when it cannot be."""
        from qcos.circuits.qasm import dumps

        try:
            qasm = texts.get(id(task.circuit))
            if qasm is None:
                qasm = texts[id(task.circuit)] = dumps(task.circuit)
        except Exception as error:
            with self._cond:
                request.resolve(index, NodeExecutionError(request.node_id, f"{task.key}: cannot export QASM: {error}"))
            return None
        noise = task.noise
        identity = {**self._aer_options, "noise": noise.digest} if noise is not None else self._aer_options
        return ChunkSpec(cache_key(qasm, task.shots, task.seed, identity), f"{request.node_id}/{task.key}", qasm,
                         task.shots, task.seed, noise.to_json() if noise is not None else None)

    def _submit_queued(self) -> None:
        if not self._queued:
            return
        limit = self.kind.array_limit(self.settings)
        with self._cond:
            if not self._queued:
                return
            if self.kind.throttles_here():  # no Slurm to throttle the array: do it here
                free = max(0, self.settings.array_parallelism - len(self._live))
                batch, self._queued = self._queued[:free], self._queued[free:]
            else:
                if self._split_waiting and self._live:
                    return  # split into several arrays: the next starts when this one is done (keeps the %N cap)
                batch, self._queued = self._queued[:limit or None], self._queued[limit or len(self._queued):]
                self._split_waiting = bool(self._queued)
                if self._split_waiting:
                    logger.info("%d array task(s) exceed MaxArraySize=%d: submitting them as several arrays, "
                                "one after the other", len(batch) + len(self._queued), limit)
        if batch:
            self._submit_array(batch)

    def _submit_array(self, batch: list[Group]) -> None:
        runners = [ChunkRunner(g.specs, dict(self._aer_options), str(self.settings.results_folder),
                               gpu_vendor=self.settings.gpu_vendor, gcds=self.settings.gcds_per_task,
                               report_failures=True)
                   for g in batch]
        try:
            jobs = self._executor.submit_array(runners)
        except Exception as error:
            message = submission_message(self.settings, len(batch), error)
            logger.error("%s", message)
            with self._cond:
                for group in batch:
                    self._fail_group(group, message)
            return
        ids = self.kind.array_ids(jobs)
        with self._cond:
            self.stats.submissions += 1
            self.stats.array_tasks += len(jobs)
            self.stats.sbatch_calls += 0 if self.kind.runs_here else 1
            self.stats.job_ids.extend(ids)
            for group, job in zip(batch, jobs, strict=True):
                group.job, group.terminal_since = job, None
                self._live.append(group)
        logger.info("submitted %d array task(s) (%d chunks) via %s executor: %s", len(jobs),
                    sum(len(g.specs) for g in batch), self.kind.name,
                    str(jobs[0].job_id).split("_")[0] if jobs else "-")

    def _poll(self) -> None:
        with self._cond:
            live = list(self._live)
        if not live:
            return
        if time.monotonic() - self._last_sacct >= self.settings.poll_s:
            self._last_sacct = time.monotonic()
            self.kind.refresh([group.job for group in live], self.settings)
        for group in live:
            outcome = self._check(group)
            if outcome is not None:
                self._finish(group, *outcome)

    def _check(self, group: Group) -> Outcome | None:
        """('ok', counts list) / ('failed', reason) / ('cancelled', reason), or None while running."""
        job = group.job
        immediate = self.kind.immediate_outcome(job)
        if immediate is not None:
            return immediate
        result_file = job.paths.result_pickle
        unreadable = ""
        if result_file.exists():
            outcome, unreadable = load_result(result_file)
            if outcome is not None:
                return outcome
            # still being written, or truncated/corrupt: a finished job whose file stays so fails below
            logger.debug("result of %s not readable (yet): %s", job.job_id, unreadable)
        state, finished = self.kind.state(job)
        if not finished:
            group.terminal_since = None
            return None
        if not self._grace_over(group):
            return None
        queued = self.kind.still_queued(job)
        if queued:  # sacct still shows the previous run of a requeued (preempted) job
            logger.debug("job %s: sacct says %s but squeue says %s; still waiting", job.job_id, state, queued)
            group.terminal_since = None
            return None
        if unreadable:
            return "failed", (f"job {job.job_id} ended {state} with an unreadable result file {result_file} "
                              f"({unreadable}); its chunks run again")
        kind = "cancelled" if state.upper().startswith("CANCELLED") or state == "INTERRUPTED" else "failed"
        detail = stderr_tail(job)
        return kind, f"job {job.job_id} ended {state} without a result" + (f": {detail}" if detail else "")

    def _grace_over(self, group: Group) -> bool:
        """Whether a finished job has lacked its result for the executor's grace period."""
        now = time.monotonic()
        if group.terminal_since is None:
            group.terminal_since = now
            return False
        return now - group.terminal_since >= self.kind.result_grace_s

    def _finish(self, group: Group, kind: str, payload: Any) -> None:
        with self._cond:
            if group not in self._live:
                return  # cancelled meanwhile
            self._live.remove(group)
            if kind == "ok":
                if isinstance(payload, TaskFailure):
                    kind, payload = "failed", payload
                elif not isinstance(payload, list) or len(payload) != len(group.entries):
                    kind, payload = "failed", f"task returned {type(payload).__name__}, expected {len(group.entries)} counts"
                else:
                    for (request, index), counts in zip(group.entries, payload, strict=True):
                        request.resolve(index, as_counts(counts))
                    self.stats.chunks_done += len(group.entries)
                    self._bar.update(len(group.entries))
                    return
            self._retry_or_fail(group, kind, payload)

    def _retry_or_fail(self, group: Group, kind: str, payload: Any) -> None:
        """Resubmit a cancelled group once and a failed one up to ``max_retries`` times (caller holds the lock)."""
        job_id = group.job.job_id if group.job is not None else "?"
        group.history.append(f"{job_id}: {payload}")
        if kind == "cancelled" and group.cancels < self.settings.max_cancel_resubmits:
            group.cancels += 1
            self.stats.cancel_resubmits += 1
            logger.warning("Slurm job %s was cancelled; resubmitting its %d chunk(s) once", job_id, len(group.specs))
            self._queued.append(group)
            return
        retryable = kind == "failed" and failure_retryable(payload)
        if retryable and group.failures < self.settings.max_retries:
            group.failures += 1
            self.stats.retries += 1
            logger.warning("Slurm job %s failed (%s); retry %d of %d", job_id, payload, group.failures,
                           self.settings.max_retries)
            self._queued.append(group)
            return
        self._fail_group(group, "; ".join(group.history[-3:]))

    def _fail_group(self, group: Group, reason: str) -> None:
        """Resolve every unresolved chunk of the group with an error (caller holds the lock)."""
        for request, index in group.entries:
            if not request.done.is_set() and request.outcomes[index] is None:
                request.resolve(index, NodeExecutionError(request.node_id, f"{request.tasks[index].key}: {reason}"))
                self.stats.chunks_failed += 1
        self._bar.update(len(group.entries))

    # -- cancellation -----------------------------------------------------
    def _cancel_jobs(self, jobs: list[Any]) -> None:
        if jobs:
            self.kind.cancel(jobs)

    def _cancel_at_exit(self) -> None:
        with self._cond:
            jobs = [g.job for g in self._live if g.job is not None]
        if jobs:
            logger.warning("interpreter exiting: cancelling %d unfinished Slurm job(s)", len(jobs))
            self._cancel_jobs(jobs)


def make_executor(settings: SlurmSettings) -> Any:
    """The submitit executor for ``settings.executor`` in its private folders, its parameters applied."""
    private_folder(settings.folder, "Slurm folder")
    folder = private_folder(settings.jobs_folder, "Slurm jobs folder")
    private_folder(settings.results_folder, "Slurm results folder")
    return executor_kind(settings).make(settings, folder)
