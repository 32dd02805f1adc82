"""Progress of a dispatch: a log line every few seconds while work is outstanding, a tqdm bar on a TTY."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("qcos.progress")

#: seconds between progress lines (``$QCOS_PROGRESS_S`` overrides; 0 turns the lines off)
DEFAULT_INTERVAL_S = 10.0


@dataclass(frozen=True)
class ProgressState:
    """A snapshot of the scheduler: chunks done/failed/pending/in flight and the busy nodes."""

    done: int
    failed: int
    pending: int
    inflight: int
    busy: list[str] = field(default_factory=list)
    nodes: int = 0


def interval_from_env(default: float = DEFAULT_INTERVAL_S) -> float:
    try:
        return max(0.0, float(os.environ.get("QCOS_PROGRESS_S", default)))
    except ValueError:
        return default


def format_line(state: ProgressState, total: int, elapsed_s: float, extras: Iterable[str] = ()) -> str:
    """``dispatch: 120/400 chunks done (30%), 8 in flight on 4/4 nodes, ...`` (one line)."""
    percent = 100.0 * state.done / total if total else 100.0
    parts = [f"dispatch: {state.done}/{total} chunks done ({percent:.0f}%)",
             f"{state.inflight} in flight on {len(state.busy)}/{state.nodes} busy node(s)"
             + (f" [{', '.join(state.busy[:6])}{', ...' if len(state.busy) > 6 else ''}]" if state.busy else ""),
             f"{state.pending} waiting"]
    if state.failed:
        parts.append(f"{state.failed} failed")
    parts.append(f"{elapsed_s:.0f} s elapsed")
    if 0 < state.done < total:
        parts.append(f"~{elapsed_s * (total - state.done) / state.done:.0f} s left")
    line = ", ".join(parts)
    extra = [e for e in extras if e]
    return line + ("; " + "; ".join(extra) if extra else "")


class DispatchProgress:
    """Reports a running dispatch until :meth:`close`: log lines from a thread, a bar on a TTY.

    ``state`` returns the scheduler's snapshot; ``extras`` return lines from providers
    (e.g. Slurm's pending/running array tasks). Both are called from the reporter thread.
    """

    def __init__(self, total: int, state: Callable[[], ProgressState], *,
                 extras: Iterable[Callable[[], str | None]] = (), interval_s: float | None = None,
                 bar: bool | None = None) -> None:
        self.total = total
        self._state = state
        self._extras = list(extras)
        self.interval_s = interval_from_env() if interval_s is None else interval_s
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread: threading.Thread | None = None
        self._bar: Any = None
        show_bar = sys.stderr.isatty() if bar is None else bar
        if show_bar and total > 0:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="chunk", desc="qcos dispatch", file=sys.stderr, leave=False)

    def start(self) -> DispatchProgress:
        if self.interval_s > 0 and self.total > 0:
            self._thread = threading.Thread(target=self._loop, name="qcos-progress", daemon=True)
            self._thread.start()
        return self

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def line(self) -> str:
        extras = []
        for extra in self._extras:
            try:
                extras.append(extra())
            except Exception as error:  # a report must never break the dispatch
                logger.debug("progress extra failed: %s", error)
        return format_line(self._state(), self.total, time.monotonic() - self._started, [e for e in extras if e])

    def _loop(self) -> None:
        deadline = time.monotonic() + self.interval_s
        while not self._stop.wait(max(0.0, deadline - time.monotonic())):  # drift-free: one line per interval
            deadline += self.interval_s
            try:
                logger.info("%s", self.line())
            except Exception:  # pragma: no cover - never let progress kill a run
                logger.debug("progress line failed", exc_info=True)


def provider_extras(providers: Iterable[Any]) -> list[Callable[[], str | None]]:
    """The ``progress_line`` methods of the distinct providers that have one."""
    seen: set[int] = set()
    extras = []
    for provider in providers:
        method = getattr(provider, "progress_line", None)
        if callable(method) and id(provider) not in seen:
            seen.add(id(provider))
            extras.append(method)
    return extras
