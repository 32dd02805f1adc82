"""Chunk results on disk: written atomically by Slurm tasks, reused by later runs."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

Counts = dict[str, int]


def cache_key(qasm: str, shots: int, seed: int | None, options: Mapping[str, Any] | None) -> str:
    """A content hash of everything that determines a chunk's counts."""
    opts = json.dumps({str(k): repr(v) for k, v in sorted((options or {}).items())}, sort_keys=True)
    text = f"{qasm}\0{int(shots)}\0{seed}\0{opts}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def atomic_write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write JSON next to ``path`` then ``os.replace`` it in: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
