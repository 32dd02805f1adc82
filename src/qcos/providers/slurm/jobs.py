"""The dispatcher's bookkeeping: callers' requests, array-task groups, counters, and reading a job's result."""

from __future__ import annotations

import logging
import math
import os
import pickle
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qcos.counts import Counts
from qcos.providers.base import ShotTask, TaskOutcome
from qcos.providers.slurm.settings import SlurmSettings
from qcos.providers.slurm.task import ChunkSpec

logger = logging.getLogger(__name__)

#: Work (core-seconds, estimated) that pays for one more array task's start-up (queue, Python, Qiskit import).
MIN_TASK_SECONDS = 60.0
#: (kind, payload) of a finished job: ('ok', counts list) / ('failed', reason) / ('cancelled', reason)
Outcome = tuple[str, Any]


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
class Request:
    """One caller's tasks and their outcomes; ``done`` is set once every outcome is in."""

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
class Group:
    """One array task: chunks of (possibly several) requests and its attempts so far."""

    entries: list[tuple[Request, int]]
    specs: list[ChunkSpec]
    failures: int = 0
    cancels: int = 0
    job: Any = None
    terminal_since: float | None = None
    history: list[str] = field(default_factory=list)


def split_groups(entries: list[tuple[Request, int]], specs: list[ChunkSpec], per_task: int, *,
                 works: Sequence[float] = (), slots: int = 1) -> list[Group]:
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
        groups.append(Group(entries[start:start + size], specs[start:start + size]))
        start += size
    return groups


def load_result(path: Path) -> tuple[Outcome | None, str]:
    """(('ok', payload) or ('failed', reason), '') for a readable result pickle, else (None, why not)."""
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
    return ("failed", last_line(str(payload))), ""


def as_counts(counts: Any) -> Counts:
    return {str(k): int(v) for k, v in dict(counts).items()}


def last_line(trace: str) -> str:
    lines = [line for line in trace.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "the task failed without a traceback"


def stderr_tail(job: Any, lines: int = 3) -> str:
    """The last lines of a job's stderr that are not submitit's own."""
    try:
        text = job.stderr() or ""
    except Exception:
        return ""
    tail = [line for line in text.strip().splitlines() if line.strip() and "submitit" not in line][-lines:]
    return " | ".join(tail)


def submission_message(settings: SlurmSettings, n_tasks: int, error: BaseException) -> str:
    detail = str(error).strip() or type(error).__name__
    where = ", ".join(f"{k}={v!r}" for k, v in (("partition", settings.partition), ("account", settings.account)) if v)
    return f"submitting {n_tasks} array task(s) ({where or 'default partition'}) failed: {detail}"
