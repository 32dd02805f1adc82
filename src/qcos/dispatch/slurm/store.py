"""Chunk results on disk: written atomically by Slurm tasks, reused by later runs."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qcos.results.counts import atomic_write_text

logger = logging.getLogger(__name__)

Counts = dict[str, int]


def cache_key(qasm: str, shots: int, seed: int | None, options: Mapping[str, Any] | None) -> str:
    """A content hash of everything that determines a chunk's counts."""
    opts = json.dumps({str(k): repr(v) for k, v in sorted((options or {}).items())}, sort_keys=True)
    text = f"{qasm}\0{int(shots)}\0{seed}\0{opts}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def atomic_write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write JSON through a temporary file and ``os.replace``: readers never see half a file."""
    atomic_write_text(path, json.dumps(payload, sort_keys=True))


class ResultStore:
    """``<folder>/<key[:2]>/<key>.json`` files holding the counts of one chunk each."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def write(self, key: str, counts: Counts, **meta: Any) -> None:
        atomic_write_json(self.path(key), {"counts": counts, **meta})

    def read(self, key: str, shots: int | None = None) -> Counts | None:
        """The stored counts, or None when absent, unreadable or not summing to ``shots``."""
        path = self.path(key)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            counts = {str(k): int(v) for k, v in payload["counts"].items()}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            logger.warning("ignoring unreadable result file %s: %s", path, error)
            return None
        if shots is not None and sum(counts.values()) != shots:
            logger.warning("ignoring result file %s: %d shots, expected %d", path, sum(counts.values()), shots)
            return None
        return counts
