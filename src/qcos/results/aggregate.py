"""The run's tables: ``summary.csv`` (byte-stable for a config and seed) and ``runtimes.csv``.

Run times differ between runs, so they live in ``runtimes.csv`` and never in the summary:
the summary of the same config and seed is byte-identical whatever the cluster.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qcos.circuits.families import FAMILIES, format_value
from qcos.circuits.qasm import load_file
from qcos.circuits.sweep import CircuitSpec
from qcos.results.counts import atomic_write_text, read_counts
from qcos.results.fidelity import fidelity, ideal_distribution

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = (
    "circuit_id", "family", "params", "qubits", "depth", "shots", "outcomes",
    "top_outcome", "top_probability", "hellinger_fidelity",
)
RUNTIME_COLUMNS = ("circuit_id", "family", "qubits", "batch", "node_ids", "chunks", "execute_s", "transpile_s", "reused")


def format_params(params: Mapping[str, Any], family: str | None = None) -> str:
    """``qubits=5;depth=10;instance=2`` in the family's parameter order (one CSV cell, stable)."""
    order = list(FAMILIES[family].params) if family in FAMILIES else []
    keys = [k for k in order if k in params] + sorted(k for k in params if k not in order)
    return ";".join(f"{k}={format_value(params[k])}" for k in keys)


def summary_row(spec: CircuitSpec, record: Mapping[str, Any], qasm_path: str | Path | None,
                *, fidelity_max_qubits: int = 20) -> dict[str, Any]:
    """One summary row: the counts file's facts plus top outcome and Hellinger fidelity."""
    counts: Mapping[str, int] = record["counts"]
    shots = int(record["shots"])
    top_outcome, top_count = min(counts.items(), key=lambda kv: (-kv[1], kv[0])) if counts else ("", 0)
    value = ""
    if record["num_qubits"] <= fidelity_max_qubits:
        stored = record.get("hellinger_fidelity")
        if stored is not None:  # computed by the dispatch job
            value = f"{stored:.6f}"
        elif qasm_path is not None:  # e.g. fidelity_max_qubits was raised after the run
            ideal = ideal_distribution(load_file(qasm_path))
            if ideal is not None:
                value = f"{fidelity(counts, ideal):.6f}"
    return {
        "circuit_id": spec.id,
        "family": spec.family,
        "params": format_params(spec.params, spec.family),
        "qubits": record["num_qubits"],
        "depth": record["depth"],
        "shots": shots,
        "outcomes": len(counts),
        "top_outcome": top_outcome,
        "top_probability": f"{top_count / shots:.6f}" if shots else "",
        "hellinger_fidelity": value,
    }


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def summarize(specs: Sequence[CircuitSpec], counts_paths: Sequence[str | Path],
              qasm_paths: Sequence[str | Path], *, fidelity_max_qubits: int = 20) -> list[dict[str, Any]]:
    """Summary rows in plan order."""
    return [
        summary_row(spec, read_counts(counts), qasm, fidelity_max_qubits=fidelity_max_qubits)
        for spec, counts, qasm in zip(specs, counts_paths, qasm_paths, strict=True)
    ]


def runtime_rows(specs: Sequence[CircuitSpec], run_records: Sequence[str | Path],
                 qubits: Mapping[str, int]) -> list[dict[str, Any]]:
    """Per-circuit timings and nodes from the batches' run records."""
    by_id: dict[str, dict[str, Any]] = {}
    for path in run_records:
        try:
            record = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            logger.warning("skipping unreadable run record %s: %s", path, error)
            continue
        for circuit_id, entry in record.get("circuits", {}).items():
            by_id[circuit_id] = {**entry, "batch": record.get("batch", "")}
    rows = []
    for spec in specs:
        entry = by_id.get(spec.id, {})
        rows.append({
            "circuit_id": spec.id,
            "family": spec.family,
            "qubits": qubits.get(spec.id, ""),
            "batch": entry.get("batch", ""),
            "node_ids": " ".join(entry.get("node_ids", [])),
            "chunks": entry.get("chunks", ""),
            "execute_s": entry.get("execute_s", ""),
            "transpile_s": entry.get("transpile_s", ""),
            "reused": str(bool(entry.get("reused", False))).lower(),
        })
    return rows


def write_summary(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    atomic_write_text(path, csv_text(rows, SUMMARY_COLUMNS))


def write_runtimes(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    atomic_write_text(path, csv_text(rows, RUNTIME_COLUMNS))
