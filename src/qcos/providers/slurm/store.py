"""Chunk results on disk: written atomically by Slurm tasks, reused by later runs."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qcos.atomic import atomic_write_text
from qcos.counts import Counts, counts_problem

logger = logging.getLogger(__name__)



def cache_key(qasm: str, shots: int, seed: int | None, options: Mapping[str, Any] | None) -> str:
    """A content hash of everything that determines a chunk's counts."""
    opts = json.dumps({str(k): repr(v) for k, v in sorted((options or {}).items())}, sort_keys=True)
    text = f"{qasm}\0{int(shots)}\0{seed}\0{opts}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def atomic_write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write JSON through a temporary file and ``os.replace``: readers never see half a file."""
    atomic_write_text(path, json.dumps(payload, sort_keys=True))


def content_digest(key: str, counts: Mapping[str, int]) -> str:
    """SHA-256 binding a chunk's counts to its cache key: a stored file must match both to be reused."""
    text = json.dumps({"key": key, "counts": {str(k): int(v) for k, v in counts.items()}}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResultStore:
    """``<folder>/<key[:2]>/<key>.json`` files holding the counts of one chunk each.

    Each file carries its key (the digest of the chunk's inputs) and a digest of key and
    counts; :meth:`read` re-checks both, so a file that was edited, copied under another
    name or half-written is recomputed instead of reused.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def write(self, key: str, counts: Counts, **meta: Any) -> None:
        payload = {**meta, "counts": counts, "key": key, "digest": content_digest(key, counts)}
        atomic_write_text(self.path(key), json.dumps(payload, sort_keys=True), mode=0o600)

    def read(self, key: str, shots: int | None = None) -> Counts | None:
        """The stored counts, or None when absent, unreadable, not matching its digests or ``shots``."""
        path = self.path(key)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            counts = {str(k): int(v) for k, v in payload["counts"].items()}
            stored_key, digest = payload.get("key"), payload.get("digest")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            logger.warning("ignoring unreadable result file %s: %s", path, error)
            return None
        if stored_key != key or digest != content_digest(key, counts):
            logger.warning("ignoring result file %s: its %s does not match; the chunk runs again", path,
                           "key" if stored_key != key else "content digest")
            return None
        problem = counts_problem(counts, shots) if shots is not None else None
        if problem is not None:
            logger.warning("ignoring result file %s: %s; the chunk runs again", path, problem)
            return None
        return counts
