"""The chunk journal: every finished chunk of a batch, appended as it lands, so reruns redo only what is missing.

One JSON line per chunk in ``journal/<batch>.jsonl``, written with a single ``write()`` on an
``O_APPEND`` descriptor (concurrent threads never interleave a line) and ``fsync``-ed every
``fsync_every_s`` seconds and at close. A killed job leaves at worst one torn last line,
which readers skip. Chunks are keyed by content: the circuit's OpenQASM digest, its id (its
seeds derive from it), chunk index, chunk shots, chunk seed, and the run identity (noise,
simulator options, package versions), so a chunk is reused only where it would come out the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qcos.providers.base import ShotTask
from qcos.qvm.result import ChunkRecord, Counts

logger = logging.getLogger(__name__)

#: journal line format
JOURNAL_FORMAT = 1


def chunk_key(*, circuit_id: str, qasm_sha256: str, chunk_index: int, shots: int, seed: int | None,
              identity: str) -> str:
    """The content key of one chunk (hex SHA-256)."""
    text = f"{JOURNAL_FORMAT}|{identity}|{circuit_id}|{qasm_sha256}|{chunk_index}|{shots}|{seed}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def identity_digest(identity: Mapping[str, Any]) -> str:
    """A digest of what, beyond the circuit and the chunk, fixes a chunk's counts."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:32]


def read_journal(path: str | Path) -> dict[str, Counts]:
    """Chunk key -> counts of every intact line (a torn or foreign line is skipped)."""
    chunks: dict[str, Counts] = {}
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return chunks
    skipped = 0
    for line in data.splitlines():
        try:
            entry = json.loads(line)
            key, counts, shots = entry["k"], entry["c"], entry["s"]
            if (not isinstance(key, str) or not isinstance(counts, dict)
                    or not all(isinstance(v, int) and v >= 0 for v in counts.values())
                    or sum(counts.values()) != shots):
                raise ValueError("bad entry")
        except (ValueError, KeyError, TypeError):
            skipped += 1
            continue
        chunks[key] = {str(k): int(v) for k, v in counts.items()}
    if skipped:
        logger.warning("%s: skipped %d torn or unreadable line(s)", path, skipped)
    return chunks


class ChunkJournal:
    """A batch's chunk store (the :class:`qcos.qvm.reuse.ChunkStore` protocol) backed by its journal file."""

    def __init__(self, path: str | Path, circuits: Sequence[tuple[str, str]], identity: Mapping[str, Any], *,
                 fsync_every_s: float = 2.0) -> None:
        """``circuits``: (circuit id, qasm digest) in the order they are given to ``run_batch``."""
        self.path = Path(path)
        self.circuits = list(circuits)
        self.identity = identity_digest(identity)
        self.fsync_every_s = fsync_every_s
        self.known = read_journal(self.path)
        self.reused = 0
        self.written = 0
        self.used: set[str] = set()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._last_sync = time.monotonic()

    def key(self, task: ShotTask) -> str:
        circuit_id, qasm_sha = self.circuits[task.circuit_index]
        return chunk_key(circuit_id=circuit_id, qasm_sha256=qasm_sha, chunk_index=task.chunk_index,
                         shots=task.shots, seed=task.seed, identity=self.identity)

    # -- ChunkStore --------------------------------------------------------------
    def lookup(self, task: ShotTask) -> Counts | None:
        key = self.key(task)
        counts = self.known.get(key)
        if counts is not None:
            self.reused += 1
            self.used.add(key)
        return counts

    def record(self, task: ShotTask, record: ChunkRecord) -> None:
        key = self.key(task)
        line = json.dumps({"k": key, "s": record.shots, "c": dict(sorted(record.counts.items())),
                           "n": record.node_id, "t": round(record.duration_s, 6)},
                          separators=(",", ":")) + "\n"
        with self._lock:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
            os.write(self._fd, line.encode("utf-8"))  # one write: a line is never interleaved
            self.known[key] = dict(record.counts)
            self.used.add(key)
            self.written += 1
            if time.monotonic() - self._last_sync >= self.fsync_every_s:
                os.fsync(self._fd)
                self._last_sync = time.monotonic()

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None

    def compact(self) -> None:
        """After a complete run: rewrite the journal with only the chunks this run used, once it
        holds more than twice as many (stale chunks of old seeds or circuits would pile up)."""
        keep = set(self.used)
        with self._lock:
            if len(self.known) <= 2 * max(1, len(keep)):
                return
        from qcos.atomic import atomic_write_bytes

        lines = [json.dumps({"k": k, "s": sum(self.known[k].values()), "c": dict(sorted(self.known[k].items()))},
                            separators=(",", ":")) for k in sorted(keep) if k in self.known]
        atomic_write_bytes(self.path, ("\n".join(lines) + "\n").encode("utf-8") if lines else b"")

    def __enter__(self) -> ChunkJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
