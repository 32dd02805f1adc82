"""Chunk reuse: a store that remembers finished chunks, so a rerun simulates only what is missing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from qcos.counts import Counts, counts_problem
from qcos.providers.base import ShotTask
from qcos.qvm.result import ChunkRecord
from qcos.qvm.scheduler import Chunk

logger = logging.getLogger(__name__)

#: the node id recorded for a chunk taken from a store instead of being run
REUSED_NODE = "reused"


@runtime_checkable
class ChunkStore(Protocol):
    """What ``DistributedQVM.run_batch(..., store=...)`` asks before and tells after each chunk.

    ``plan`` may replace a circuit's chunk plan; ``lookup`` returns the counts of a chunk that already ran with exactly this task's
    identity (circuit, chunk index, shots, seed and whatever else the store keys on),
    or None. ``record`` is called from worker threads as each chunk finishes; it must be
    thread-safe and should persist the chunk before returning (a killed run loses only
    the chunks still in flight).
    """

    def plan(self, circuit_index: int, shots: int, fresh: list[int],
             extend: Callable[[Sequence[int]], list[int]]) -> list[int]:
        """The chunk shots to run circuit ``circuit_index`` with: ``fresh`` (the QVM's own plan),
        or ``extend(previous)`` - chunks the store already holds plus new ones for the extra
        shots (raised shots: one more chunk, see :func:`qcos.workers.chunking.extend_plan`)."""
        ...

    def lookup(self, task: ShotTask) -> Counts | None: ...

    def record(self, task: ShotTask, record: ChunkRecord) -> None: ...


def reused_record(task: ShotTask, counts: Counts) -> ChunkRecord:
    """The record of a chunk served from a store (no node, no time)."""
    return ChunkRecord(task.circuit_index, task.chunk_index, task.shots, task.seed, REUSED_NODE, 0, 0.0, dict(counts))


def split_reused(chunks: list[Chunk], store: ChunkStore) -> tuple[dict[tuple[int, int], ChunkRecord], list[Chunk]]:
    """Chunks the store already holds, as records (keyed by circuit and chunk index), and the chunks left to run."""
    reused: dict[tuple[int, int], ChunkRecord] = {}
    to_run: list[Chunk] = []
    for chunk in chunks:
        counts = store.lookup(chunk.task)
        if counts is not None and counts_problem(counts, chunk.task.shots) is None:
            reused[(chunk.task.circuit_index, chunk.task.chunk_index)] = reused_record(chunk.task, counts)
        else:
            to_run.append(chunk)
    if reused:
        logger.info("reusing %d of %d chunk(s) from the chunk store", len(reused), len(chunks))
    return reused, to_run
