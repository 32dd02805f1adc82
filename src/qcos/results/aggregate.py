"""The run's tables: ``summary.csv`` (byte-stable for a config and seed) and ``runtimes.csv``.

Run times differ between runs, so they live in ``runtimes.csv`` and never in the summary:
the summary of the same config and seed is byte-identical whatever the cluster.

The row functions take plain per-circuit records (``circuit_id``, ``family``, ``params``,
``counts``, ``shots``, ``num_qubits``, ``depth`` and, when the dispatch computed them, the
fields of :data:`qcos.results.metrics.METRIC_FIELDS`), whatever stores them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from qiskit import QuantumCircuit

from qcos.circuits.families import FAMILIES, format_value
from qcos.circuits.qasm import load_file
from qcos.circuits.sweep import CircuitSpec
from qcos.atomic import atomic_write_text
from qcos.results.counts import read_counts
from qcos.results.metrics import METRIC_FIELDS, circuit_metrics

logger = logging.getLogger(__name__)

#: Columns before and after the swept-parameter columns of a summary.
LEADING_COLUMNS = ("circuit_id", "family")
TRAILING_COLUMNS = (
    "qubits", "circuit_depth", "shots", "noise", "outcomes", "top_outcome", "top_probability", *METRIC_FIELDS,
)
#: Parameters that are not swept-parameter columns (``qubits`` is its own column).
_NOT_PARAM_COLUMNS = frozenset({"qubits"})
RUNTIME_COLUMNS = (
    "circuit_id", "family", "qubits", "batch", "node_ids", "chunks", "simulate_s", "execute_s", "transpile_s", "reused",
)


def param_columns(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every swept parameter the records carry, in the families' declared order (``instance`` last)."""
    seen: set[str] = set()
    for record in records:
        seen.update(k for k in record.get("params", {}) if k not in _NOT_PARAM_COLUMNS)
    order: list[str] = []
    for family in FAMILIES.values():
        order += [name for name in family.params if name not in family.expansion_keys and name not in order]
    order.append("instance")
    return [name for name in order if name in seen] + sorted(seen - set(order))


def summary_columns(records: Iterable[Mapping[str, Any]]) -> list[str]:
    return [*LEADING_COLUMNS, *param_columns(records), *TRAILING_COLUMNS]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return format_value(value)


def summary_row(record: Mapping[str, Any], *, noise: str = "") -> dict[str, Any]:
    """One summary row from a per-circuit record: parameters as columns, counts facts, metrics."""
    counts: Mapping[str, int] = record["counts"]
    shots = int(record["shots"])
    top_outcome, top_count = min(counts.items(), key=lambda kv: (-kv[1], kv[0])) if counts else ("", 0)
    params = record.get("params", {})
    row: dict[str, Any] = {
        "circuit_id": record["circuit_id"],
        "family": record["family"],
        **{k: ("" if v is None else format_value(v)) for k, v in params.items() if k not in _NOT_PARAM_COLUMNS},
        "qubits": record["num_qubits"],
        "circuit_depth": record.get("depth", ""),
        "shots": shots,
        "noise": noise,
        "outcomes": len(counts),
        "top_outcome": top_outcome,
        "top_probability": f"{top_count / shots:.6f}" if shots else "",
    }
    for name in METRIC_FIELDS:
        row[name] = _cell(record.get(name))
    return row


def complete_metrics(record: Mapping[str, Any], circuit: Callable[[], QuantumCircuit | None], *,
                     fidelity_max_qubits: int) -> dict[str, Any]:
    """The record with every metric field; missing ones are computed (``circuit`` is loaded only then).

    Circuits wider than ``fidelity_max_qubits`` keep only what counts alone give.
    """
    out = dict(record)
    common = {"family": record["family"], "params": record.get("params", {}), "counts": record["counts"]}
    if int(record["num_qubits"]) > fidelity_max_qubits:
        out.update(circuit_metrics(None, **common, circuit_id=record["circuit_id"]))
    elif any(name not in record for name in METRIC_FIELDS):
        computed = circuit_metrics(circuit(), **common, circuit_id=record["circuit_id"], max_qubits=fidelity_max_qubits)
        out.update({k: v for k, v in computed.items() if out.get(k) is None})
    return out


def summary_rows(records: Sequence[Mapping[str, Any]], *, noise: str = "") -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows of a summary, in the records' order."""
    return summary_columns(records), [summary_row(r, noise=noise) for r in records]


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore",
                            restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def summarize(specs: Sequence[CircuitSpec], counts_paths: Sequence[str | Path],
              qasm_paths: Sequence[str | Path], *, fidelity_max_qubits: int = 20,
              noise: str = "") -> list[dict[str, Any]]:
    """Summary rows in plan order, from counts files (metrics missing there come from the QASM)."""
    records = []
    for spec, counts, qasm in zip(specs, counts_paths, qasm_paths, strict=True):
        record = {**read_counts(counts), "circuit_id": spec.id, "family": spec.family, "params": dict(spec.params)}
        records.append(complete_metrics(record, partial(_load, qasm), fidelity_max_qubits=fidelity_max_qubits))
    return summary_rows(records, noise=noise)[1]


def _load(path: str | Path | None) -> QuantumCircuit | None:
    return None if path is None else load_file(path)


def runtime_rows(specs: Sequence[CircuitSpec], run_records: Sequence[str | Path],
                 qubits: Mapping[str, int]) -> list[dict[str, Any]]:
    """Per-circuit timings and nodes from the batches' run records.

    ``simulate_s`` is Aer's own time for the circuit's experiments (summed over its chunks):
    no worker start-up, parsing or transfer, so it is the time to plot against width.
    """
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
            "simulate_s": "" if entry.get("simulate_s") is None else entry["simulate_s"],
            "execute_s": entry.get("execute_s", ""),
            "transpile_s": entry.get("transpile_s", ""),
            "reused": str(bool(entry.get("reused", False))).lower(),
        })
    return rows


def write_summary(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write rows from :func:`summary_row` (their parameter columns decide the header)."""
    params = [{"params": {k: None for k in row if k not in (*LEADING_COLUMNS, *TRAILING_COLUMNS)}} for row in rows]
    atomic_write_text(path, csv_text(rows, summary_columns(params)))


def write_runtimes(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    atomic_write_text(path, csv_text(rows, RUNTIME_COLUMNS))
