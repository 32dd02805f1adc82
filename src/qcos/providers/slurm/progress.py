"""What a Slurm dispatch reports while it runs: a line for the QVM's progress log, a bar of its own if asked."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence
from typing import Any

from qcos.providers.slurm.jobs import Group
from qcos.providers.slurm.kinds import ExecutorKind

logger = logging.getLogger(__name__)


def progress_line(kind: ExecutorKind, job_name: str, live: Sequence[Group], waiting: int,
                  job_ids: Sequence[str]) -> str | None:
    """``slurm qcos: array task(s) 3 pending, 5 running, 2 waiting to be submitted`` (None when idle)."""
    if not live and not waiting:
        return None
    states: dict[str, int] = {}
    for group in live:
        state = kind.progress_state(group.job) if group.job is not None else "running"
        states[state] = states.get(state, 0) + 1
    parts = [f"{n} {state}" for state, n in sorted(states.items())]
    if waiting:
        parts.append(f"{waiting} waiting to be submitted")
    arrays = kind.arrays_note(job_ids)
    return f"{kind.name} {job_name}: array task(s) " + ", ".join(parts) + (f" (arrays {arrays})" if arrays else "")


class ChunkBar:
    """A tqdm bar of chunks on stderr, opened on first use when ``show`` (thread-safe)."""

    def __init__(self, show: bool | None, label: str) -> None:
        self._show = bool(show)  # None: no bar of its own (DistributedQVM shows one on a TTY)
        self._label = label
        self._bar: Any = None
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        if not self._show or n <= 0:
            return
        with self._lock:
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(total=0, unit="chunk", desc=self._label, file=sys.stderr, leave=False)
            self._bar.total += n
            self._bar.refresh()

    def update(self, n: int) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.update(n)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
