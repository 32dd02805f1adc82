"""Result tables: one Parquet file per batch instead of one JSON file per circuit.

100,000 circuits make 100,000 small files with per-circuit JSON, the pattern parallel file
systems (Lustre on LUMI) handle worst; a columnar table per batch is a few thousand files,
reads in milliseconds with pyarrow and opens in pandas, polars or DuckDB. Tables hold only
what determines or is determined by the counts (byte-identical for the same config and seed
whatever the cluster); where and how long chunks ran lives in the batch's run record.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from qcos.atomic import atomic_write_bytes
from qcos.counts import counts_problem
from qcos.results.counts import ResultsError, canonical_json, counts_record

logger = logging.getLogger(__name__)

#: the ``format`` key in every table's metadata
TABLE_FORMAT = "qcos-batch/1"

QASM_SCHEMA = pa.schema([
    ("circuit_id", pa.string()), ("family", pa.string()), ("params", pa.string()),
    ("qasm", pa.string()), ("qasm_sha256", pa.string()),
])

_COUNTS_FIELDS: list[tuple[str, pa.DataType]] = [
    ("circuit_id", pa.string()), ("family", pa.string()), ("params", pa.string()),
    ("num_qubits", pa.int32()), ("num_clbits", pa.int32()), ("depth", pa.int32()),
    ("qasm_sha256", pa.string()), ("shots", pa.int64()), ("seed", pa.int64()),
    ("chunks", pa.list_(pa.int64())), ("counts", pa.map_(pa.string(), pa.int64())),
    ("hellinger_fidelity", pa.float64()), ("metadata", pa.string()),
]
COUNTS_SCHEMA = pa.schema(_COUNTS_FIELDS)


@dataclass(frozen=True)
class QasmRow:
    """One compiled circuit of a batch (a row of ``qasm/<batch>.parquet``)."""

    circuit_id: str
    family: str
    params: Mapping[str, Any]
    qasm: str
    qasm_sha256: str


@dataclass(frozen=True)
class CircuitRecord:
    """One circuit's result: what aggregation, plots and exports read."""

    circuit_id: str
    family: str
    params: Mapping[str, Any]
    num_qubits: int
    num_clbits: int
    depth: int
    qasm_sha256: str
    shots: int
    seed: int
    chunks: tuple[int, ...]
    counts: Mapping[str, int]
    hellinger_fidelity: float | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    batch: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A plain mapping (the keys of the old per-circuit counts files plus ``batch`` and ``chunks``)."""
        return {
            "circuit_id": self.circuit_id, "family": self.family, "params": dict(self.params),
            "num_qubits": self.num_qubits, "num_clbits": self.num_clbits, "depth": self.depth,
            "qasm_sha256": self.qasm_sha256, "shots": self.shots, "seed": self.seed, "chunks": list(self.chunks),
            "counts": dict(self.counts), "hellinger_fidelity": self.hellinger_fidelity,
            "metadata": dict(self.metadata), "batch": self.batch,
        }


# -- writing --------------------------------------------------------------------
def _params_text(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True, separators=(",", ":"))


def _write_table(path: str | Path, table: pa.Table, batch: str) -> None:
    table = table.replace_schema_metadata({"format": TABLE_FORMAT, "batch": batch})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    atomic_write_bytes(path, buffer.getvalue())


def write_qasm_table(path: str | Path, rows: Sequence[QasmRow], *, batch: str) -> None:
    columns = {
        "circuit_id": [r.circuit_id for r in rows], "family": [r.family for r in rows],
        "params": [_params_text(r.params) for r in rows],
        "qasm": [r.qasm for r in rows], "qasm_sha256": [r.qasm_sha256 for r in rows],
    }
    _write_table(path, pa.table(columns, schema=QASM_SCHEMA), batch)


def write_counts_table(path: str | Path, records: Sequence[CircuitRecord], *, batch: str) -> None:
    """One batch's results; outcomes sorted so the file is byte-identical for the same counts."""
    for record in records:
        check_counts(record, f"{path}: {record.circuit_id}")
    columns: dict[str, list[Any]] = {name: [] for name in COUNTS_SCHEMA.names}
    for r in records:
        row = r.as_dict()
        row["params"] = _params_text(r.params)
        row["counts"] = sorted((str(k), int(v)) for k, v in r.counts.items())
        row["metadata"] = json.dumps(dict(r.metadata), sort_keys=True, separators=(",", ":"))
        row["hellinger_fidelity"] = None if r.hellinger_fidelity is None else round(float(r.hellinger_fidelity), 6)
        for name in COUNTS_SCHEMA.names:
            columns[name].append(row[name])
    _write_table(path, pa.table(columns, schema=COUNTS_SCHEMA), batch)


def check_counts(record: CircuitRecord, where: str) -> None:
    problem = counts_problem(record.counts, record.shots)
    if problem is not None:
        raise ResultsError(f"{where}: {problem}")


# -- reading --------------------------------------------------------------------
def _read_table(path: str | Path, schema: pa.Schema) -> pa.Table:
    path = Path(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError as error:
        raise ResultsError(f"result table {path} is missing; rerun the workflow to produce it") from error
    except (OSError, pa.ArrowException) as error:
        raise ResultsError(f"result table {path} is unreadable ({error}); delete it and rerun the workflow") from error
    meta = table.schema.metadata or {}
    if meta.get(b"format") != TABLE_FORMAT.encode() or not set(schema.names) <= set(table.column_names):
        raise ResultsError(f"{path}: not a {TABLE_FORMAT} table; delete it and rerun the workflow")
    return table


def table_batch(table: pa.Table) -> str:
    return (table.schema.metadata or {}).get(b"batch", b"").decode()


def read_qasm_table(path: str | Path) -> list[QasmRow]:
    table = _read_table(path, QASM_SCHEMA)
    return [
        QasmRow(r["circuit_id"], r["family"], json.loads(r["params"]), r["qasm"], r["qasm_sha256"])
        for r in table.to_pylist()
    ]


def read_counts_table(path: str | Path, circuit_id: str | None = None) -> list[CircuitRecord]:
    """The records of one batch table (only ``circuit_id``'s when given), checked."""
    table = _read_table(path, COUNTS_SCHEMA)
    batch = table_batch(table)
    if circuit_id is not None:
        import pyarrow.compute as pc

        table = table.filter(pc.equal(table["circuit_id"], pa.scalar(circuit_id)))
    records = []
    for r in table.to_pylist():
        record = CircuitRecord(
            circuit_id=r["circuit_id"], family=r["family"], params=json.loads(r["params"]),
            num_qubits=int(r["num_qubits"]), num_clbits=int(r["num_clbits"]), depth=int(r["depth"]),
            qasm_sha256=r["qasm_sha256"], shots=int(r["shots"]), seed=int(r["seed"]), chunks=tuple(r["chunks"]),
            counts=dict(r["counts"]), hellinger_fidelity=r["hellinger_fidelity"],
            metadata=json.loads(r["metadata"]), batch=batch,
        )
        check_counts(record, f"{path}: {record.circuit_id}")
        records.append(record)
    return records


def iter_records(paths: Iterable[str | Path]) -> Iterator[CircuitRecord]:
    """Every circuit's record, table after table, in the order given (the plan's order)."""
    for path in paths:
        yield from read_counts_table(path)


def legacy_counts_json(record: CircuitRecord) -> str:
    """The old per-circuit counts file (``qcos-counts/1``) of one record."""
    chunk_shots = record.metadata.get("chunk_shots")
    data = counts_record(
        circuit_id=record.circuit_id, family=record.family, params=record.params, counts=record.counts,
        shots=record.shots, seed=record.seed,
        chunk_shots=chunk_shots if isinstance(chunk_shots, int) else max(record.chunks, default=record.shots),
        num_qubits=record.num_qubits, num_clbits=record.num_clbits, depth=record.depth,
        qasm_sha256=record.qasm_sha256, versions=record.metadata.get("versions", {}),
        hellinger_fidelity=record.hellinger_fidelity,
    )
    return canonical_json(data)
