"""Counts files: one JSON per circuit, written atomically with sorted keys so reruns are byte-identical.

A counts file holds only what determines or is determined by the counts (circuit id,
parameters, qasm hash, shots, seed, chunking, counts, package versions, and the Hellinger
fidelity against the ideal distribution, computed in the parallel dispatch jobs); where and how
long it ran goes to the batch's run record (``runs/<batch>.json``), which is not
byte-stable.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qcos.atomic import atomic_write_text
from qcos.counts import counts_problem
from qcos.exceptions import QcosError

logger = logging.getLogger(__name__)

#: the ``format`` field of a counts file
COUNTS_FORMAT = "qcos-counts/1"

#: fields that must match for an existing counts file to stand for a new run
IDENTITY_FIELDS = ("format", "circuit_id", "shots", "seed", "chunk_shots", "qasm_sha256", "noise")


class ResultsError(QcosError):
    """A results file is missing, unreadable or does not match the run."""


def canonical_json(data: Any) -> str:
    """Deterministic JSON text: sorted keys, fixed indentation, trailing newline."""
    return json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_if_changed(path: str | Path, text: str) -> bool:
    """Atomically write ``text`` unless the file already holds exactly it (keeps its mtime)."""
    path = Path(path)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    atomic_write_text(path, text)
    return True


def counts_record(
    *,
    circuit_id: str,
    family: str,
    params: Mapping[str, Any],
    counts: Mapping[str, int],
    shots: int,
    seed: int,
    chunk_shots: int | str,
    num_qubits: int,
    num_clbits: int,
    depth: int,
    qasm_sha256: str,
    versions: Mapping[str, str],
    hellinger_fidelity: float | None = None,
    noise: str | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of one counts file (deterministic for a circuit, seed, shots and noise).

    ``noise`` is the noise spec's digest (None: ideal); ``metrics`` the fields of
    :func:`qcos.results.metrics.circuit_metrics`, stored so aggregation needs no statevector.
    """
    extra: dict[str, Any] = dict(metrics or {})
    if noise is not None:
        extra["noise"] = noise
    return {
        **extra,
        "format": COUNTS_FORMAT,
        "circuit_id": circuit_id,
        "family": family,
        "params": dict(params),
        "num_qubits": int(num_qubits),
        "num_clbits": int(num_clbits),
        "depth": int(depth),
        "qasm_sha256": qasm_sha256,
        "shots": int(shots),
        "seed": int(seed),
        "chunk_shots": chunk_shots if isinstance(chunk_shots, str) else int(chunk_shots),  # "auto" or a number
        "counts": {str(k): int(v) for k, v in sorted(counts.items())},
        "versions": dict(versions),
        # against the ideal distribution; null when not computed (too wide, mid-circuit measurement)
        "hellinger_fidelity": (round(float(hellinger_fidelity), 6) if hellinger_fidelity is not None
                               else extra.get("hellinger_fidelity")),
    }


def write_counts(path: str | Path, record: Mapping[str, Any]) -> None:
    """Check and atomically write one counts file."""
    check_record(record, str(path))
    atomic_write_text(path, canonical_json(dict(record)))


def read_counts(path: str | Path) -> dict[str, Any]:
    """Read and check one counts file; ResultsError names the file and the problem."""
    path = Path(path)
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ResultsError(f"counts file {path} is missing; rerun the workflow to produce it") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultsError(f"counts file {path} is unreadable ({error}); delete it and rerun the workflow") from error
    check_record(record, str(path))
    return record


def check_record(record: Any, where: str) -> None:
    if not isinstance(record, Mapping) or record.get("format") != COUNTS_FORMAT:
        raise ResultsError(f"{where}: not a {COUNTS_FORMAT} counts file; delete it and rerun the workflow")
    problem = counts_problem(record.get("counts"), record.get("shots"))
    if problem is not None:
        raise ResultsError(f"{where}: {problem}")


def is_current(path: str | Path, expected: Mapping[str, Any]) -> bool:
    """Whether an existing counts file already holds the result ``expected`` describes."""
    try:
        record = read_counts(path)
    except ResultsError:
        return False
    return all(record.get(name) == expected.get(name) for name in IDENTITY_FIELDS if name in expected)
