"""Warm Aer worker processes shared by local nodes and the REST bridge.

Workers are fresh interpreters running ``python -m qcos.workers.aer`` (never a re-import
of the user's ``__main__``), so local nodes work from any program: a plain script, ``-c``,
stdin, a notebook kernel or a Snakemake ``script:``.
"""

from __future__ import annotations

from qcos.workers.jobs import (
    CIRCUIT,
    CRASHED,
    MEMORY,
    NOT_RUN,
    OK,
    POISON,
    QASM,
    SIMULATION,
    TIMEOUT,
    Chunk,
    Outcome,
    WorkerConfig,
    default_memory_mb,
    qpy_bytes,
)
from qcos.workers.pool import WorkerPool

__all__ = [
    "CIRCUIT", "CRASHED", "MEMORY", "NOT_RUN", "OK", "POISON", "QASM", "SIMULATION", "TIMEOUT",
    "Chunk", "Outcome", "WorkerConfig", "WorkerPool", "default_memory_mb", "qpy_bytes",
]
