"""Check a run is complete: every planned circuit has a valid counts file for this config."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qcos.results.counts import ResultsError, canonical_json, read_counts

logger = logging.getLogger(__name__)


def collect(circuit_ids: Sequence[str], counts_paths: Sequence[str | Path], *, config: Mapping[str, Any]) -> dict[str, Any]:
    """An index of the run's counts files (deterministic), or ResultsError listing the problems."""
    problems: list[str] = []
    files: dict[str, str] = {}
    shots, seed = int(config["shots"]), int(config["seed"])
    for circuit_id, path in zip(circuit_ids, counts_paths, strict=True):
        try:
            record = read_counts(path)
        except ResultsError as error:
            problems.append(str(error))
            continue
        if record["circuit_id"] != circuit_id:
            problems.append(f"{path}: holds circuit {record['circuit_id']!r}, expected {circuit_id!r}")
        elif record["shots"] != shots or record["seed"] != seed:
            problems.append(f"{path}: shots/seed {record['shots']}/{record['seed']} differ from the config's {shots}/{seed}")
        else:
            files[circuit_id] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ResultsError(
            f"{len(problems)} of {len(circuit_ids)} counts file(s) are missing or wrong:\n  {shown}{more}\n"
            "Delete the listed files and rerun the workflow (it redoes only their batches)."
        )
    return {
        "experiment": config.get("experiment"),
        "n_circuits": len(files),
        "shots": shots,
        "seed": seed,
        "counts_sha256": files,
    }


def collect_to(path: str | Path, circuit_ids: Sequence[str], counts_paths: Sequence[str | Path], *,
               config: Mapping[str, Any]) -> dict[str, Any]:
    from qcos.results.counts import atomic_write_text

    index = collect(circuit_ids, counts_paths, config=config)
    atomic_write_text(path, canonical_json(index))
    return index
