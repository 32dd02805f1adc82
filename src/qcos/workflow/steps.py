"""What the workflow's jobs do: transpile and dispatch a batch, collect, aggregate, provenance.

The Snakemake scripts only unpack ``snakemake.*`` and call these functions with one
:class:`RunSettings`, so the same steps run (and are tested) without Snakemake:
``bench/bench_workflow.py`` uses them as its one-process baseline.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager

from qcos.atomic import atomic_write_text
from qcos.circuits.qasm import dumps, loads
from qcos.circuits.seeds import derive_seed
from qcos.circuits.sweep import CircuitSpec
from qcos.circuits.templates import compile_specs
from qcos.exceptions import ConfigError
from qcos.redact import mask
from qcos.results.counts import ResultsError, canonical_json, sha256_text
from qcos.results.provenance import package_versions
from qcos.results.store import (
    CircuitRecord,
    QasmRow,
    iter_records,
    read_qasm_table,
    write_counts_table,
    write_qasm_table,
)
from qcos.workers.chunking import AUTO, parse_chunk_shots
from qcos.workflow.journal import ChunkJournal
from qcos.workflow.settings import RunSettings, TranspileSettings

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

    from qcos.providers.cluster import QPURegistry

logger = logging.getLogger(__name__)


def _specs(specs: Sequence[CircuitSpec | Mapping[str, Any]]) -> list[CircuitSpec]:
    return [s if isinstance(s, CircuitSpec) else CircuitSpec.from_dict(s) for s in specs]


def make_pass_manager(transpile: TranspileSettings | Mapping[str, Any], seed: int) -> Any:
    """One preset pass manager for a whole batch (``transpile()`` would build one per call).

    ``transpile``: the run's settings, or a ``transpile:`` mapping (schema defaults filled in).
    """
    if not isinstance(transpile, TranspileSettings):
        transpile = TranspileSettings.from_mapping(transpile)
    try:
        return generate_preset_pass_manager(
            optimization_level=transpile.optimization_level,
            basis_gates=list(transpile.basis_gates),
            coupling_map=[list(pair) for pair in transpile.coupling_map] if transpile.coupling_map else None,
            seed_transpiler=derive_seed(seed, "transpile"),
        )
    except Exception as error:
        raise ConfigError(f"config: transpile: {error}") from error


def transpile_batch(specs: Sequence[CircuitSpec | Mapping[str, Any]], table_path: str | Path, *,
                    settings: RunSettings, batch: str) -> list[QasmRow]:
    """Build a batch's circuits, compile them with one pass manager, write ``qasm/<batch>.parquet``.

    Returns the table's rows (the OpenQASM 3 text that dispatch parses and hashes).
    """
    specs = _specs(specs)
    started = time.perf_counter()
    # families with a template (qaoa_ring) compile once per structure and bind each point
    compiled = compile_specs(specs, make_pass_manager(settings.transpile, settings.seed), settings.seed)
    rows = []
    for spec, circuit in zip(specs, compiled, strict=True):
        circuit.name = spec.id
        text = dumps(circuit)
        rows.append(QasmRow(spec.id, spec.family, spec.params, text, sha256_text(text)))
    write_qasm_table(table_path, rows, batch=batch)
    logger.info("%s: transpiled %d circuit(s) in %.3fs", batch, len(specs), time.perf_counter() - started)
    return rows


def transpile_and_dispatch(specs: Sequence[CircuitSpec | Mapping[str, Any]], qasm_table: str | Path,
                           table_path: str | Path, run_record_path: str | Path | None, journal_path: str | Path, *,
                           settings: RunSettings, batch: str, cluster: QPURegistry | None = None,
                           threads: int | None = None) -> dict[str, Any]:
    """The dispatch job: compile a batch (``qasm/<batch>.parquet``), then run it (counts table, run record).

    One process per batch instead of one to transpile and one to dispatch: each job pays
    Python's start-up and the Qiskit imports once. Dispatch runs the OpenQASM text it has
    just written, parsed back, exactly as it would read it from the table.
    """
    rows = transpile_batch(specs, qasm_table, settings=settings, batch=batch)
    return dispatch_batch(rows, table_path, run_record_path, journal_path, settings=settings, batch=batch,
                          source=str(qasm_table), cluster=cluster, threads=threads)


def run_identity(settings: RunSettings) -> dict[str, Any]:
    """What, beyond a chunk's circuit, index, shots and seed, fixes its counts (journal keys)."""
    return {"noise": settings.counts_identity()["noise"], "versions": package_versions()}


def dispatch_batch(qasm: str | Path | Sequence[QasmRow], table_path: str | Path, run_record_path: str | Path | None,
                   journal_path: str | Path, *, settings: RunSettings, batch: str,
                   source: str | None = None, cluster: QPURegistry | None = None,
                   threads: int | None = None) -> dict[str, Any]:
    """Run a batch on the configured cluster and write its result table and run record.

    ``qasm``: the batch's ``qasm/<batch>.parquet`` table, or its rows (``source`` names them
    in errors). ``cluster``: an open cluster to run on (a program running many batches keeps
    one); by default the settings' cluster is built for this batch and closed after it, its
    local CPU nodes sharing ``threads`` cores when given (a Snakemake job's allotment).
    Chunks already in the batch's journal (same content key) are reused; every chunk that
    finishes is appended to the journal at once, so a killed job loses only chunks in flight.
    """
    from qcos.providers.cluster import load_cluster_config
    from qcos.qvm import DistributedQVM

    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    rows, circuits = _batch_circuits(qasm, source or batch)
    identity = run_identity(settings)
    chunk_shots = parse_chunk_shots(settings.dispatch.chunk_shots, "config: dispatch.chunk_shots")
    journal = ChunkJournal(journal_path, [(r.circuit_id, r.qasm_sha256) for r in rows], identity,
                           extend=chunk_shots == AUTO)
    dispatch = settings.dispatch
    with contextlib.ExitStack() as stack:
        stack.enter_context(journal)
        registry = cluster if cluster is not None else stack.enter_context(
            load_cluster_config(settings.job_cluster(threads), where="config: cluster").build())
        qvm = DistributedQVM(
            registry, shots=settings.shots, seed=settings.seed,
            chunk_shots=chunk_shots, noise=settings.noise,
            max_attempts=dispatch.max_attempts, chunk_timeout_s=dispatch.chunk_timeout_s, progress=False,
        )
        results = qvm.run_batch(circuits, keys=[r.circuit_id for r in rows], store=journal)
        status = registry.status_report()
    metadata = {"versions": identity["versions"], "chunk_shots": dispatch.chunk_shots, "noise": identity["noise"]}
    records = _circuit_records(rows, circuits, results, metadata, settings.fidelity_max_qubits, batch)
    write_counts_table(table_path, records, batch=batch)
    journal.compact()
    record = _run_record(batch, rows, results, status, journal, started_at, time.perf_counter() - started)
    if run_record_path is not None:
        atomic_write_text(run_record_path, canonical_json(mask(record)))  # no secret in run records
    logger.info("%s: %d circuit(s), %d chunk(s): %d simulated, %d reused from the journal, in %.3fs", batch,
                len(rows), record["chunks"]["total"], record["chunks"]["simulated"], record["chunks"]["reused"],
                record["wall_s"])
    return record


def _batch_circuits(qasm: str | Path | Sequence[QasmRow], source: str) -> tuple[list[QasmRow], list[QuantumCircuit]]:
    """A batch's rows (from its qasm table or given) and their circuits, parsed and named by id."""
    if isinstance(qasm, (str, Path)):
        source, rows = str(qasm), read_qasm_table(qasm)
    else:
        rows = list(qasm)
    circuits = []
    for row in rows:
        circuit = loads(row.qasm, source=f"{source}: {row.circuit_id}")
        circuit.name = row.circuit_id
        circuits.append(circuit)
    return rows, circuits


def _circuit_records(rows: Sequence[QasmRow], circuits: Sequence[QuantumCircuit], results: Sequence[Any],
                     metadata: dict[str, Any], fidelity_max_qubits: int, batch: str) -> list[CircuitRecord]:
    """One result-table row per circuit, with its ideal-distribution metrics (fidelity next to
    an ideal sampler, QAOA cut, QV heavy outputs)."""
    from qcos.results.metrics import circuit_metrics

    records = []
    for row, circuit, result in zip(rows, circuits, results, strict=True):
        metric = circuit_metrics(circuit, row.family, row.params, result.counts, circuit_id=row.circuit_id,
                                 max_qubits=fidelity_max_qubits)
        records.append(CircuitRecord(
            circuit_id=row.circuit_id, family=row.family, params=row.params,
            num_qubits=circuit.num_qubits, num_clbits=circuit.num_clbits, depth=circuit.depth(),
            qasm_sha256=row.qasm_sha256, shots=result.shots, seed=result.seed,
            chunks=tuple(c.shots for c in result.chunks), counts=result.counts,
            hellinger_fidelity=metric["hellinger_fidelity"], metadata={**metadata, "metrics": metric}, batch=batch,
        ))
    return records


def _run_record(batch: str, rows: Sequence[QasmRow], results: Any, cluster: Any, journal: ChunkJournal,
                started_at: str, wall: float) -> dict[str, Any]:
    """Where and how long a batch ran (not byte-stable: timings, nodes)."""
    from qcos.qvm.reuse import REUSED_NODE

    circuits = {}
    for row, result in zip(rows, results, strict=True):
        ran = [c for c in result.chunks if c.node_id != REUSED_NODE]
        circuits[row.circuit_id] = {
            "reused": not ran,
            "node_ids": sorted({c.node_id for c in ran}),
            "chunks": len(result.chunks),
            "chunking": result.metadata.get("chunking", {}).get("cost"),
            "reused_chunks": len(result.chunks) - len(ran),
            "attempts": sum(c.attempts for c in ran),
            "execute_s": round(sum(c.duration_s for c in ran), 6),
            # Aer's own time for the circuit's experiments: no start-up, parsing or transfer
            "simulate_s": (round(sum(c.sim_s for c in ran), 6) if ran and all(c.sim_s is not None for c in ran)
                           else None),
            "transpile_s": round(result.timings.get("transpile_s", 0.0), 6),
        }
    total = sum(entry["chunks"] for entry in circuits.values())
    reused = sum(entry["reused_chunks"] for entry in circuits.values())
    return {
        "batch": batch, "started": started_at, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_s": round(wall, 6), "chunks": {"total": total, "reused": reused, "simulated": total - reused},
        "journal_written": journal.written, "cluster": cluster, "per_node": results.per_node, "circuits": circuits,
    }


def write_plan(path: str | Path, manifest: Sequence[Mapping[str, Any]]) -> None:
    """``plan.json``: every circuit with family, parameters and batch (deterministic)."""
    atomic_write_text(path, canonical_json({"circuits": list(manifest)}))


def read_plan(path: str | Path) -> list[dict[str, Any]]:
    return list(json.loads(Path(path).read_text(encoding="utf-8"))["circuits"])


def collect(plan_path: str | Path, tables: Sequence[str | Path], index_path: str | Path, *,
            settings: RunSettings) -> dict[str, Any]:
    """Check every planned circuit has exactly one valid record for this config; write the index."""
    planned = {entry["id"]: entry["batch"] for entry in read_plan(plan_path)}
    problems: list[str] = []
    found: dict[str, str] = {}
    for record in iter_records(tables):
        if record.circuit_id not in planned:
            problems.append(f"{record.batch}: holds circuit {record.circuit_id!r}, which is not in the plan")
        elif record.shots != settings.shots or record.seed != settings.seed:
            problems.append(f"{record.batch}: {record.circuit_id}: shots/seed {record.shots}/{record.seed} "
                            f"differ from the config's {settings.shots}/{settings.seed}")
        found[record.circuit_id] = record.batch
    missing = [cid for cid in planned if cid not in found]
    problems += [f"{planned[cid]}: no record of circuit {cid!r}" for cid in missing[:10]]
    if problems:
        shown = "\n  ".join(problems[:10])
        raise ResultsError(f"{len(problems)} problem(s) in the result tables:\n  {shown}\n"
                           "Delete the named batch tables (counts/<batch>.parquet) and rerun the workflow.")
    index = {"experiment": settings.experiment, "n_circuits": len(found), "shots": settings.shots,
             "seed": settings.seed, "batches": sorted(set(found.values()))}
    atomic_write_text(index_path, canonical_json(index))
    return index


def aggregate_run(tables: Sequence[str | Path], run_records: Sequence[str | Path], *, summary_path: str | Path,
                  runtimes_path: str | Path, plots: Mapping[str, str | Path], settings: RunSettings) -> list[dict[str, Any]]:
    """Summary table, run-time table and plots of a finished run, from the batch tables."""
    from qcos.circuits.noise import parse_noise
    from qcos.results.aggregate import (
        complete_metrics,
        runtime_rows,
        summary_rows,
        write_runtimes,
        write_summary,
    )
    from qcos.results.plots import plot_all

    started = time.perf_counter()
    specs, records = [], []
    for record in iter_records(tables):
        specs.append(CircuitSpec(record.circuit_id, record.family, dict(record.params)))
        plain = {**record.as_dict(), **dict(record.metadata.get("metrics") or {})}
        records.append(complete_metrics(plain, lambda: None, fidelity_max_qubits=settings.fidelity_max_qubits))
    noise = parse_noise(settings.noise, where="config: noise")
    label = noise.describe() if noise is not None else ""
    _, summary = summary_rows(records, noise=label)
    write_summary(summary_path, summary)
    runtimes = runtime_rows(specs, run_records, {row["circuit_id"]: row["qubits"] for row in summary})
    write_runtimes(runtimes_path, runtimes)
    plot_all(summary, runtimes, plots, noise=label)
    logger.info("aggregated %d circuit(s) in %.3fs", len(summary), time.perf_counter() - started)
    return summary


def write_provenance(path: str | Path, config: Mapping[str, Any], *, n_circuits: int,
                     workflow_dir: str | Path | None = None) -> dict[str, Any]:
    from qcos.results.provenance import provenance

    record = provenance(config, cluster=config["cluster"], n_circuits=n_circuits, workflow_dir=workflow_dir)
    atomic_write_text(path, canonical_json(record))
    return record
