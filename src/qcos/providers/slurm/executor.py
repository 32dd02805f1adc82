"""The dispatcher: ShotTasks -> job arrays through submitit, with retries, progress and cancel.

One :class:`SlurmDispatcher` serves a provider. ``run(tasks)`` may be called from many
threads at once (DistributedQVM calls ``execute_batch`` from one thread per node):
requests arriving within ``gather_s`` of each other are merged and split into array
tasks of at most ``circuits_per_task`` chunks, so a batch costs one ``sbatch`` whatever
the number of nodes. A single monitor thread polls Slurm (one ``sacct`` call per tick,
through submitit's shared watcher), collects results as tasks finish, resubmits failed
tasks (bounded) and cancelled ones (once), and routes counts back to each caller.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qcos.counts import Counts
from qcos.exceptions import NodeExecutionError, SlurmError
from qcos.providers.base import ShotTask, TaskOutcome
from qcos.providers.slurm.settings import SlurmConfigError, SlurmSettings
from qcos.providers.slurm.site import site_max_array_size
from qcos.providers.slurm.store import ResultStore, cache_key
from qcos.providers.slurm.task import ChunkRunner, ChunkSpec
from qcos.workers.chunking import chunk_work

logger = logging.getLogger(__name__)

#: Errors a retry cannot fix: the task fails the same way wherever it runs.
_NON_RETRYABLE = ("GPUUnavailableError", "QasmError")
#: How long a finished job may lack its result file before it counts as failed (shared FS lag).
_RESULT_GRACE_S = 5.0
_WATCHER_LOCK = threading.Lock()
#: Work (core-seconds, estimated) that pays for one more array task's start-up (queue, Python, Qiskit import).
MIN_TASK_SECONDS = 60.0
#: squeue states of a job that will still run (e.g. a preempted job Slurm requeued).
_QUEUED_STATES = frozenset({"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING",
                            "COMPLETING", "SUSPENDED", "RESIZING", "STAGE_OUT", "SIGNALING"})


class SlurmSubmissionError(SlurmError):
    """``sbatch`` (or the local executor) refused a submission; the message is Slurm's."""


@dataclass
class DispatchStats:
    """Counters for one dispatcher (all runs); ``sbatch_calls`` counts Slurm submissions."""

    sbatch_calls: int = 0
    submissions: int = 0
    array_tasks: int = 0
    retries: int = 0
    cancel_resubmits: int = 0
    cache_hits: int = 0
    chunks_done: int = 0
    chunks_failed: int = 0
    job_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__, job_ids=list(self.job_ids))


@dataclass
class _Request:
    tasks: Sequence[ShotTask]
    node_id: str
    outcomes: list[TaskOutcome]
    remaining: int
    done: threading.Event = field(default_factory=threading.Event)

    def resolve(self, index: int, outcome: TaskOutcome) -> None:
        self.outcomes[index] = outcome
        self.remaining -= 1
        if self.remaining <= 0:
            self.done.set()


@dataclass
class _Group:
    """One array task: chunks of (possibly several) requests and its attempts so far."""

    entries: list[tuple[_Request, int]]
    specs: list[ChunkSpec]
    failures: int = 0
    cancels: int = 0
    job: Any = None
    terminal_since: float | None = None
    history: list[str] = field(default_factory=list)


class SlurmDispatcher:
    """Runs ShotTasks as submitit job arrays (Slurm, or the local/debug executors)."""

    def __init__(self, settings: SlurmSettings) -> None:
        self.settings = settings
        self.stats = DispatchStats()
        self.store = ResultStore(settings.results_folder)
        self._aer_options = settings.task_aer_options()
        self._executor = make_executor(settings)
        self._cond = threading.Condition()
        self._incoming: list[_Request] = []
        self._first_incoming = 0.0
        self._queued: list[_Group] = []
        self._live: list[_Group] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self._bar: Any = None
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

    def submit(self, tasks: Sequence[ShotTask], node_id: str = "slurm") -> _Request:
        """Queue tasks without waiting; ``request.done`` is set once every outcome is in."""
        if self._closed:
            raise SlurmError("this Slurm dispatcher is closed; build a new cluster")
        request = _Request(list(tasks), node_id, [None] * len(tasks), len(tasks))
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
        self._close_bar()

    # -- monitor thread ---------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._monitor, name="qcos-slurm-monitor", daemon=True)
            self._thread.start()

    def _monitor(self) -> None:
        tick = 0.1 if self.settings.executor != "slurm" else min(0.5, self.settings.poll_s)
        while True:
            with self._cond:
                if self._closed:
                    return
                if not (self._incoming or self._queued or self._live):
                    self._close_bar()
                    self._cond.wait(1.0)
                    continue
                incoming: list[_Request] = []
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

    def _accept(self, requests: list[_Request]) -> None:
        """Turn new requests into groups (array tasks), answering cache hits at once."""
        from qcos.circuits.qasm import dumps

        entries: list[tuple[_Request, int]] = []
        specs: list[ChunkSpec] = []
        works: list[float] = []
        hits = 0
        for request in requests:
            texts: dict[int, str] = {}
            for index, task in enumerate(request.tasks):
                try:
                    qasm = texts.get(id(task.circuit))
                    if qasm is None:
                        qasm = texts[id(task.circuit)] = dumps(task.circuit)
                except Exception as error:
                    with self._cond:
                        request.resolve(index, NodeExecutionError(request.node_id, f"{task.key}: cannot export QASM: {error}"))
                    continue
                noise = task.noise
                identity = {**self._aer_options, "noise": noise.digest} if noise is not None else self._aer_options
                key = cache_key(qasm, task.shots, task.seed, identity)
                if self.settings.reuse_results and task.seed is not None:
                    counts = self.store.read(key, task.shots)
                    if counts is not None:
                        hits += 1
                        with self._cond:
                            request.resolve(index, counts)
                        continue
                entries.append((request, index))
                specs.append(ChunkSpec(key, f"{request.node_id}/{task.key}", qasm, task.shots, task.seed,
                                       noise.to_json() if noise is not None else None))
                works.append(chunk_work(task.circuit, task.shots, {**self._aer_options, **task.run_options}))
        groups = _split(entries, specs, self.settings.circuits_per_task,
                        works=works, slots=self.settings.array_parallelism)
        with self._cond:
            self.stats.cache_hits += hits
            self._queued.extend(groups)
        if hits:
            logger.info("reused %d chunk result(s) from %s", hits, self.settings.results_folder)
        self._progress_add(len(specs))

    def _submit_queued(self) -> None:
        if not self._queued:
            return
        limit = self._array_limit()
        with self._cond:
            if not self._queued:
                return
            if self.settings.executor == "local":  # no Slurm to throttle the array: do it here
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

    def _array_limit(self) -> int | None:
        """Most tasks one array may have: the setting, else the site's MaxArraySize (Slurm only)."""
        if self.settings.max_array_size:
            return self.settings.max_array_size
        return site_max_array_size() if self.settings.executor == "slurm" else None

    def _submit_array(self, batch: list[_Group]) -> None:
        runners = [ChunkRunner(g.specs, dict(self._aer_options), str(self.settings.results_folder),
                               gpu_vendor=self.settings.gpu_vendor, gcds=self.settings.gcds_per_task)
                   for g in batch]
        try:
            jobs = self._executor.submit_array(runners)
        except Exception as error:
            message = _submission_message(self.settings, len(batch), error)
            logger.error("%s", message)
            with self._cond:
                for group in batch:
                    self._fail_group(group, message)
            return
        with self._cond:
            self.stats.submissions += 1
            self.stats.array_tasks += len(jobs)
            if self.settings.executor == "slurm":
                self.stats.sbatch_calls += 1
                self.stats.job_ids.append(str(jobs[0].job_id).split("_")[0])
            else:
                self.stats.job_ids.extend(str(job.job_id) for job in jobs)
            for group, job in zip(batch, jobs, strict=True):
                group.job, group.terminal_since = job, None
                self._live.append(group)
        logger.info("submitted %d array task(s) (%d chunks) via %s executor: %s", len(jobs),
                    sum(len(g.specs) for g in batch), self.settings.executor,
                    str(jobs[0].job_id).split("_")[0] if jobs else "-")

    def _poll(self) -> None:
        with self._cond:
            live = list(self._live)
        if not live:
            return
        executor = self.settings.executor
        if executor == "slurm" and time.monotonic() - self._last_sacct >= self.settings.poll_s:
            self._last_sacct = time.monotonic()
            with _WATCHER_LOCK:  # submitit's watcher is shared by every dispatcher in the process
                live[0].job.watcher.update()  # one sacct call for every registered job
        for group in live:
            outcome = self._check(group)
            if outcome is not None:
                self._finish(group, *outcome)

    def _check(self, group: _Group) -> tuple[str, Any] | None:
        """('ok', counts list) / ('failed', reason) / ('cancelled', reason), or None while running."""
        job = group.job
        if self.settings.executor == "debug":
            try:
                return "ok", job.submission().result()
            except Exception as error:
                return "failed", f"{type(error).__name__}: {error}"
        result_file = job.paths.result_pickle
        unreadable = ""
        if result_file.exists():
            outcome, unreadable = _load_result(result_file)
            if outcome is not None:
                return outcome
            # still being written, or truncated/corrupt: a finished job whose file stays so fails below
            logger.debug("result of %s not readable (yet): %s", job.job_id, unreadable)
        if self.settings.executor == "slurm":
            with _WATCHER_LOCK:
                state = job.watcher.get_state(str(job.job_id), mode="cache")
                finished = job.watcher.is_done(str(job.job_id), mode="cache")
        else:
            state = job.get_info().get("jobState", "UNKNOWN")
            finished = state != "RUNNING"
        if not finished:
            group.terminal_since = None
            return None
        now = time.monotonic()
        if group.terminal_since is None:
            group.terminal_since = now
            return None
        if now - group.terminal_since < (_RESULT_GRACE_S if self.settings.executor == "slurm" else 0.5):
            return None
        if self.settings.executor == "slurm":
            queued = _squeue_state(str(job.job_id))
            if queued:  # sacct still shows the previous run of a requeued (preempted) job
                logger.debug("job %s: sacct says %s but squeue says %s; still waiting", job.job_id, state, queued)
                group.terminal_since = None
                return None
        if unreadable:
            return "failed", (f"job {job.job_id} ended {state} with an unreadable result file {result_file} "
                              f"({unreadable}); its chunks run again")
        kind = "cancelled" if state.upper().startswith("CANCELLED") or state == "INTERRUPTED" else "failed"
        detail = _stderr_tail(job)
        return kind, f"job {job.job_id} ended {state} without a result" + (f": {detail}" if detail else "")

    def _finish(self, group: _Group, kind: str, payload: Any) -> None:
        with self._cond:
            if group in self._live:
                self._live.remove(group)
            else:
                return  # cancelled meanwhile
            if kind == "ok":
                if not isinstance(payload, list) or len(payload) != len(group.entries):
                    kind, payload = "failed", f"task returned {type(payload).__name__}, expected {len(group.entries)} counts"
                else:
                    for (request, index), counts in zip(group.entries, payload, strict=True):
                        request.resolve(index, _as_counts(counts))
                    self.stats.chunks_done += len(group.entries)
                    self._progress_update(len(group.entries))
                    return
            job_id = group.job.job_id if group.job is not None else "?"
            group.history.append(f"{job_id}: {payload}")
            if kind == "cancelled" and group.cancels < self.settings.max_cancel_resubmits:
                group.cancels += 1
                self.stats.cancel_resubmits += 1
                logger.warning("Slurm job %s was cancelled; resubmitting its %d chunk(s) once", job_id, len(group.specs))
                self._queued.append(group)
                return
            retryable = kind == "failed" and not any(name in str(payload) for name in _NON_RETRYABLE)
            if retryable and group.failures < self.settings.max_retries:
                group.failures += 1
                self.stats.retries += 1
                logger.warning("Slurm job %s failed (%s); retry %d of %d", job_id, payload, group.failures,
                               self.settings.max_retries)
                self._queued.append(group)
                return
            self._fail_group(group, "; ".join(group.history[-3:]))

    def _fail_group(self, group: _Group, reason: str) -> None:
        """Resolve every unresolved chunk of the group with an error (caller holds the lock)."""
        for request, index in group.entries:
            if not request.done.is_set() and request.outcomes[index] is None:
                request.resolve(index, NodeExecutionError(request.node_id, f"{request.tasks[index].key}: {reason}"))
                self.stats.chunks_failed += 1
        self._progress_update(len(group.entries))

    # -- cancellation -----------------------------------------------------
    def _cancel_jobs(self, jobs: list[Any]) -> None:
        if not jobs:
            return
        if self.settings.executor == "slurm":
            ids = [str(job.job_id) for job in jobs]
            try:
                subprocess.run(["scancel", *ids], check=False, capture_output=True, timeout=60)
            except (OSError, subprocess.SubprocessError) as error:
                logger.error("scancel %s failed: %s", " ".join(ids), error)
            return
        for job in jobs:
            try:
                job.cancel(check=False)
            except Exception as error:  # a process that already exited
                logger.debug("cancel %s: %s", getattr(job, "job_id", job), error)

    def _cancel_at_exit(self) -> None:
        with self._cond:
            jobs = [g.job for g in self._live if g.job is not None]
        if jobs:
            logger.warning("interpreter exiting: cancelling %d unfinished Slurm job(s)", len(jobs))
            self._cancel_jobs(jobs)

    # -- progress ---------------------------------------------------------
    def progress_line(self) -> str | None:
        """``slurm qcos: 3 array task(s) pending, 5 running, 2 queued here`` (None when idle)."""
        with self._cond:
            live, queued = list(self._live), len(self._queued) + len(self._incoming)
        if not live and not queued:
            return None
        states: dict[str, int] = {}
        for group in live:
            state = "running"
            if self.settings.executor == "slurm" and group.job is not None:
                with _WATCHER_LOCK:
                    raw = str(group.job.watcher.get_state(str(group.job.job_id), mode="cache")).upper()
                state = {"PENDING": "pending", "RUNNING": "running", "UNKNOWN": "submitted"}.get(
                    raw.split()[0] if raw else "UNKNOWN", raw.lower() or "submitted")
            states[state] = states.get(state, 0) + 1
        parts = [f"{n} {state}" for state, n in sorted(states.items())]
        if queued:
            parts.append(f"{queued} waiting to be submitted")
        arrays = ",".join(self.stats.job_ids[-3:]) if self.settings.executor == "slurm" else ""
        return (f"{self.settings.executor} {self.settings.job_name}: array task(s) " + ", ".join(parts)
                + (f" (arrays {arrays})" if arrays else ""))

    def _progress_add(self, n: int) -> None:
        show = self.settings.progress  # None: no bar of its own (DistributedQVM shows one on a TTY)
        if not show or n <= 0:
            return
        with self._cond:
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(total=0, unit="chunk", desc=f"slurm {self.settings.job_name}",
                                 file=sys.stderr, leave=False)
            self._bar.total += n
            self._bar.refresh()

    def _progress_update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def make_executor(settings: SlurmSettings) -> Any:
    """The submitit executor for ``settings.executor``, with its parameters applied."""
    import submitit

    from qcos.providers.slurm.folders import private_folder

    private_folder(settings.folder, "Slurm folder")
    folder = private_folder(settings.jobs_folder, "Slurm jobs folder")
    private_folder(settings.results_folder, "Slurm results folder")
    if settings.executor == "slurm":
        try:
            executor = submitit.SlurmExecutor(folder=folder, python=settings.python)
        except RuntimeError as error:
            raise SlurmConfigError(
                f"executor='slurm' needs the Slurm client commands (srun, sbatch) on this machine: {error}; "
                "run from a cluster login node, or use executor='local' to run the same path here"
            ) from error
        try:
            executor.update_parameters(**settings.slurm_parameters())
        except ValueError as error:
            raise SlurmConfigError(f"invalid Slurm parameters: {error}") from error
        return executor
    if settings.executor == "local":
        executor = submitit.LocalExecutor(folder=folder, python=settings.python)
        executor.update_parameters(**settings.local_parameters())
        return executor
    return submitit.DebugExecutor(folder=folder)


def _split(entries: list[tuple[_Request, int]], specs: list[ChunkSpec], per_task: int, *,
           works: Sequence[float] = (), slots: int = 1) -> list[_Group]:
    """Balanced groups of at most ``per_task`` chunks, keeping order (a circuit's chunks stay together).

    When the chunks' estimated work (``works``, core-seconds) is worth it, there are more
    groups, up to ``slots`` (the array's parallelism), each with at least
    :data:`MIN_TASK_SECONDS` of work: three wide circuits (three one-chunk simulations) run
    as three array tasks at once, not one after another in a single task.
    """
    if not entries:
        return []
    n_groups = math.ceil(len(entries) / per_task)
    if slots > n_groups and works:
        n_groups = max(n_groups, min(len(entries), slots, int(sum(works) // MIN_TASK_SECONDS)))
    base, extra = divmod(len(entries), n_groups)
    groups, start = [], 0
    for g in range(n_groups):
        size = base + (1 if g < extra else 0)
        groups.append(_Group(entries[start:start + size], specs[start:start + size]))
        start += size
    return groups


def _squeue_state(job_id: str) -> str:
    """The job's state in squeue ('' when it left the queue or squeue failed)."""
    try:
        proc = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    states = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    live = [state for state in states if state in _QUEUED_STATES]
    return live[0] if live else ""


def _load_result(path: Path) -> tuple[tuple[str, Any] | None, str]:
    """(('ok', payload) or ('failed', reason), '') for a readable result pickle, else (None, why not)."""
    import pickle

    try:
        info = path.stat()
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            return ("failed", f"refusing to load result file {path}: it is owned by uid {info.st_uid}, not by you"), ""
        with open(path, "rb") as handle:
            loaded = pickle.load(handle)
        status, payload = loaded
    except Exception as error:  # truncated (EOFError, UnpicklingError), garbage, or not a pair
        return None, f"{type(error).__name__}: {str(error)[:200] or 'unreadable'}"
    if status == "success":
        return ("ok", payload), ""
    return ("failed", _last_line(str(payload))), ""


def _as_counts(counts: Any) -> Counts:
    return {str(k): int(v) for k, v in dict(counts).items()}


def _last_line(trace: str) -> str:
    lines = [line for line in trace.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "the task failed without a traceback"


def _stderr_tail(job: Any, lines: int = 3) -> str:
    try:
        text = job.stderr() or ""
    except Exception:
        return ""
    tail = [line for line in text.strip().splitlines() if line.strip() and "submitit" not in line][-lines:]
    return " | ".join(tail)


def _submission_message(settings: SlurmSettings, n_tasks: int, error: BaseException) -> str:
    detail = str(error).strip() or type(error).__name__
    where = ", ".join(f"{k}={v!r}" for k, v in (("partition", settings.partition), ("account", settings.account)) if v)
    return f"submitting {n_tasks} array task(s) ({where or 'default partition'}) failed: {detail}"
