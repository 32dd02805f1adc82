"""The chunk journal: every finished chunk of a batch, appended as it lands, so reruns redo only what is missing.

One JSON line per chunk in ``journal/<batch>.jsonl``, written with a single ``write()`` on an
``O_APPEND`` descriptor (concurrent threads never interleave a line) and ``fsync``-ed every
``fsync_every_s`` seconds and at close. A killed job leaves at worst one torn last line,
which readers skip. Chunks are keyed by content: the circuit's OpenQASM digest, its id (its
seeds derive from it), chunk index, chunk shots, chunk seed, and the run identity (noise,
simulator options, package versions), so a chunk is reused only where it would come out the same.

With ``extend=True`` (cost-aware chunking, ``chunk_shots: auto``) raising shots keeps the
chunks a circuit already has and adds chunks for the extra shots only
(:func:`qcos.workers.chunking.extend_plan`), instead of the one bigger chunk a fresh run would
simulate: one more simulation, not a rerun. The result is then a valid sample but not the
fresh run's bytes; its ``chunks`` column says how it was cut. With an explicit
``chunk_shots`` the plan is fixed, so raised shots equal a fresh run byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from qcos.checks import is_int
from qcos.counts import Counts, counts_problem
from qcos.providers.base import ShotTask
from qcos.qvm.result import ChunkRecord

logger = logging.getLogger(__name__)

#: journal line format
JOURNAL_FORMAT = 1


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chunk_key(*, circuit_id: str, qasm_sha256: str, chunk_index: int, shots: int, seed: int | None,
              identity: str) -> str:
    """The content key of one chunk (hex SHA-256)."""
    return _sha(f"{JOURNAL_FORMAT}|{identity}|{circuit_id}|{qasm_sha256}|{chunk_index}|{shots}|{seed}")


def identity_digest(identity: Mapping[str, Any]) -> str:
    """A digest of what, beyond the circuit and the chunk, fixes a chunk's counts."""
    return _sha(json.dumps(identity, sort_keys=True, default=str))[:32]


def _valid(entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("k"), str):
        return False
    counts, shots = entry.get("c"), entry.get("s")
    return isinstance(counts, dict) and is_int(shots) and counts_problem(counts, shots) is None


def read_entries(path: str | Path) -> dict[str, dict[str, Any]]:
    """Chunk key -> journal entry of every intact line (a torn or foreign line is skipped)."""
    entries: dict[str, dict[str, Any]] = {}
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return entries
    skipped = 0
    for line in data.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not _valid(entry):
            skipped += 1
            continue
        entries[entry["k"]] = entry
    if skipped:
        logger.warning("%s: skipped %d torn or unreadable line(s)", path, skipped)
    return entries


def read_journal(path: str | Path) -> dict[str, Counts]:
    """Chunk key -> counts of every intact line."""
    return {key: {str(k): int(v) for k, v in e["c"].items()} for key, e in read_entries(path).items()}


class ChunkJournal:
    """A batch's chunk store (the :class:`qcos.qvm.reuse.ChunkStore` protocol) backed by its journal file."""

    def __init__(self, path: str | Path, circuits: Sequence[tuple[str, str]], identity: Mapping[str, Any], *,
                 extend: bool = False, fsync_every_s: float = 2.0) -> None:
        """``circuits``: (circuit id, qasm digest) in the order they are given to ``run_batch``."""
        self.path = Path(path)
        self.circuits = list(circuits)
        self.identity = identity_digest(identity)
        self.extend = extend
        self.fsync_every_s = fsync_every_s
        self.entries = read_entries(self.path)
        self.reused = 0
        self.written = 0
        self.used: set[str] = set()
        self._plans: dict[int, list[int]] = {}
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._last_sync = time.monotonic()

    @property
    def known(self) -> dict[str, Counts]:
        return {key: entry["c"] for key, entry in self.entries.items()}

    def key(self, circuit_index: int, chunk_index: int, shots: int, seed: int | None) -> str:
        circuit_id, qasm_sha = self.circuits[circuit_index]
        return chunk_key(circuit_id=circuit_id, qasm_sha256=qasm_sha, chunk_index=chunk_index,
                         shots=shots, seed=seed, identity=self.identity)

    def _circuit_key(self, circuit_index: int) -> str:
        circuit_id, qasm_sha = self.circuits[circuit_index]
        return _sha(f"{JOURNAL_FORMAT}|{self.identity}|{circuit_id}|{qasm_sha}")[:32]

    # -- ChunkStore --------------------------------------------------------------
    def plan(self, circuit_index: int, shots: int, fresh: list[int],
             extend: Callable[[Sequence[int]], list[int]]) -> list[int]:
        """``fresh``, unless ``extend`` is on, some chunk of ``fresh`` is missing and the journal
        holds a complete earlier plan of this circuit: then ``extend(that plan's longest prefix
        that fits)`` - the chunks already there plus new ones for the extra shots."""
        chosen = list(fresh)
        if self.extend:
            previous = self._previous(circuit_index, shots, fresh)
            if previous:
                chosen = list(extend(previous))
        self._plans[circuit_index] = chosen
        return chosen

    def _previous(self, circuit_index: int, shots: int, fresh: list[int]) -> list[int]:
        circuit = self._circuit_key(circuit_index)
        mine = [e for e in self.entries.values() if e.get("p") == circuit]
        have = {(e.get("i"), e["s"]) for e in mine}
        if all((i, part) in have for i, part in enumerate(fresh)):
            return []  # the fresh plan is all there
        best: list[int] = []
        for entry in mine:
            earlier = entry.get("P")
            if not isinstance(earlier, list) or not all((i, p) in have for i, p in enumerate(earlier)):
                continue
            prefix: list[int] = []
            for part in earlier:
                if sum(prefix) + int(part) > shots:
                    break
                prefix.append(int(part))
            if sum(prefix) > sum(best):
                best = prefix
        return best

    def lookup(self, task: ShotTask) -> Counts | None:
        key = self.key(task.circuit_index, task.chunk_index, task.shots, task.seed)
        entry = self.entries.get(key)
        if entry is None:
            return None
        self.reused += 1
        self.used.add(key)
        return {str(k): int(v) for k, v in entry["c"].items()}

    def record(self, task: ShotTask, record: ChunkRecord) -> None:
        key = self.key(task.circuit_index, task.chunk_index, task.shots, task.seed)
        entry = {"k": key, "s": record.shots, "c": dict(sorted(record.counts.items())),
                 "p": self._circuit_key(task.circuit_index), "i": task.chunk_index,
                 "P": self._plans.get(task.circuit_index), "n": record.node_id, "t": round(record.duration_s, 6)}
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
            os.write(self._fd, line.encode("utf-8"))  # one write: a line is never interleaved
            self.entries[key] = entry
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
        from qcos.atomic import atomic_write_bytes

        with self._lock:
            keep = sorted(self.used)
            if len(self.entries) <= 2 * max(1, len(keep)):
                return
            lines = [json.dumps(self.entries[k], separators=(",", ":")) + "\n" for k in keep if k in self.entries]
            atomic_write_bytes(self.path, "".join(lines).encode("utf-8"))
            self.entries = {k: self.entries[k] for k in keep if k in self.entries}

    def __enter__(self) -> ChunkJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
