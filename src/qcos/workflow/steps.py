"""What the workflow's batch jobs do: generate + transpile a batch, and dispatch a batch.

The Snakemake scripts only unpack ``snakemake.*`` and call these functions, so the
same steps run (and are tested) without Snakemake: ``bench/bench_workflow.py`` uses
them as its one-process baseline.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qiskit import QuantumCircuit
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager

from qcos.circuits.families import derive_seed
from qcos.circuits.qasm import dumps, loads
from qcos.circuits.sweep import CircuitSpec
from qcos.circuits.templates import compile_specs
from qcos.exceptions import ConfigError
from qcos.qvm.chunking import AUTO, parse_chunk_shots
from qcos.redact import mask
from qcos.results.counts import (
    COUNTS_FORMAT,
    atomic_write_text,
    canonical_json,
    counts_record,
    is_current,
    sha256_text,
    write_counts,
)
from qcos.results.provenance import package_versions

logger = logging.getLogger(__name__)

#: gates circuits are compiled to when the config names none: OpenQASM 3 standard
#: gates that Aer runs natively, so dispatch never has to transpile again
DEFAULT_BASIS = ("cx", "rz", "sx", "x", "h")


def _specs(specs: Sequence[CircuitSpec | Mapping[str, Any]]) -> list[CircuitSpec]:
    return [s if isinstance(s, CircuitSpec) else CircuitSpec.from_dict(s) for s in specs]


def make_pass_manager(transpile: Mapping[str, Any], seed: int) -> Any:
    """One preset pass manager for a whole batch (``transpile()`` would build one per call)."""
    try:
        return generate_preset_pass_manager(
            optimization_level=int(transpile.get("optimization_level", 1)),
            basis_gates=list(transpile.get("basis_gates") or DEFAULT_BASIS),
            coupling_map=transpile.get("coupling_map") or None,
            seed_transpiler=derive_seed(seed, "transpile"),
        )
    except Exception as error:
        raise ConfigError(f"config: transpile: {error}") from error


def transpile_batch(
    specs: Sequence[CircuitSpec | Mapping[str, Any]],
    qasm_paths: Sequence[str | Path],
    *,
    seed: int,
    transpile: Mapping[str, Any],
) -> list[QuantumCircuit]:
    """Build a batch's circuits, compile them with one pass manager and write OpenQASM 3 files."""
    specs = _specs(specs)
    if len(specs) != len(qasm_paths):
        raise ValueError(f"transpile_batch: {len(specs)} circuits but {len(qasm_paths)} output paths")
    started = time.perf_counter()
    # families with a template (qaoa_ring) compile once per structure and bind each point
    compiled = compile_specs(specs, make_pass_manager(transpile, seed), seed)
    for spec, circuit, path in zip(specs, compiled, qasm_paths, strict=True):
        circuit.name = spec.id
        atomic_write_text(path, dumps(circuit))
    logger.info("transpiled %d circuit(s) in %.3fs", len(specs), time.perf_counter() - started)
    return list(compiled)


def _expected(spec: CircuitSpec, qasm_sha: str, config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "format": COUNTS_FORMAT,
        "circuit_id": spec.id,
        "shots": int(config["shots"]),
        "seed": int(config["seed"]),
        "chunk_shots": parse_chunk_shots(config["dispatch"]["chunk_shots"], "config: dispatch.chunk_shots"),
        "qasm_sha256": qasm_sha,
    }


def dispatch_batch(
    specs: Sequence[CircuitSpec | Mapping[str, Any]],
    qasm_paths: Sequence[str | Path],
    counts_paths: Sequence[str | Path],
    run_record_path: str | Path | None,
    *,
    config: Mapping[str, Any],
    batch: str = "batch",
) -> dict[str, Any]:
    """Run a batch's circuits on the configured cluster and write one counts file per circuit.

    A counts file that already holds this circuit's result (same qasm hash, shots, seed
    and chunking) is kept as it is (only touched), so a rerun batch simulates only
    what is new. Returns the batch's run record (also written to ``run_record_path``).
    """
    from qcos.providers.cluster import load_cluster_config
    from qcos.qvm import DistributedQVM

    specs = _specs(specs)
    if not len(specs) == len(qasm_paths) == len(counts_paths):
        raise ValueError("dispatch_batch: specs, qasm_paths and counts_paths must have the same length")
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    to_run: list[tuple[CircuitSpec, QuantumCircuit, str, Path]] = []
    reused: list[str] = []
    for spec, qasm_path, counts_path in zip(specs, qasm_paths, counts_paths, strict=True):
        text = Path(qasm_path).read_text(encoding="utf-8")
        qasm_sha = sha256_text(text)
        if is_current(counts_path, _expected(spec, qasm_sha, config)):
            os.utime(counts_path)  # up to date for this run: newer than its qasm input
            reused.append(spec.id)
            continue
        circuit = loads(text, source=str(qasm_path))
        circuit.name = spec.id
        to_run.append((spec, circuit, qasm_sha, Path(counts_path)))

    record: dict[str, Any] = {"batch": batch, "started": started_at, "circuits": {}}
    previous = _read_record(run_record_path)
    for circuit_id in reused:
        if circuit_id in previous.get("circuits", {}):
            record["circuits"][circuit_id] = {**previous["circuits"][circuit_id], "reused": True}
        else:
            record["circuits"][circuit_id] = {"reused": True}

    if to_run:
        dispatch = config.get("dispatch", {})
        versions = package_versions()
        max_qubits = int(config.get("aggregate", {}).get("fidelity_max_qubits", 20))
        with load_cluster_config(config["cluster"], where="config: cluster").build() as registry:
            qvm = DistributedQVM(
                registry,
                shots=int(config["shots"]),
                seed=int(config["seed"]),
                chunk_shots=parse_chunk_shots(dispatch.get("chunk_shots", AUTO), "config: dispatch.chunk_shots"),
                max_attempts=int(dispatch.get("max_attempts", 4)),
                chunk_timeout_s=dispatch.get("chunk_timeout_s"),
                progress=False,
            )
            results = qvm.run_batch([c for _, c, _, _ in to_run], keys=[s.id for s, _, _, _ in to_run])
            record["cluster"] = registry.status_report()
            record["per_node"] = results.per_node
        for (spec, circuit, qasm_sha, counts_path), result in zip(to_run, results, strict=True):
            write_counts(counts_path, counts_record(
                circuit_id=spec.id, family=spec.family, params=spec.params, counts=result.counts,
                shots=result.shots, seed=result.seed, chunk_shots=qvm.chunk_shots,
                num_qubits=circuit.num_qubits, num_clbits=circuit.num_clbits, depth=circuit.depth(),
                qasm_sha256=qasm_sha, versions=versions,
                hellinger_fidelity=_ideal_fidelity(circuit, result.counts, max_qubits),
            ))
            record["circuits"][spec.id] = {
                "reused": False,
                "node_ids": result.node_ids,
                "chunks": len(result.chunks),
                "chunking": result.metadata.get("chunking", {}).get("cost"),
                "attempts": sum(c.attempts for c in result.chunks),
                "execute_s": round(result.timings.get("execute_s", 0.0), 6),
                "transpile_s": round(result.timings.get("transpile_s", 0.0), 6),
            }
    record.update(
        simulated=[s.id for s, _, _, _ in to_run],
        reused=reused,
        wall_s=round(time.perf_counter() - started, 6),
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    if run_record_path is not None:
        atomic_write_text(run_record_path, canonical_json(mask(record)))  # no secret in run records
    logger.info("%s: simulated %d circuit(s), reused %d, in %.3fs", batch, len(to_run), len(reused), record["wall_s"])
    return record


def _ideal_fidelity(circuit: QuantumCircuit, counts: Mapping[str, int], max_qubits: int) -> float | None:
    """Hellinger fidelity against the ideal distribution, for circuits up to ``max_qubits``."""
    from qcos.results.fidelity import fidelity, ideal_distribution

    if circuit.num_qubits > max_qubits:
        return None
    ideal = ideal_distribution(circuit)
    return None if ideal is None else fidelity(counts, ideal)


def _read_record(path: str | Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_plan(path: str | Path, manifest: Sequence[Mapping[str, Any]]) -> None:
    """``plan.json``: every circuit with family, parameters and batch (deterministic)."""
    atomic_write_text(path, canonical_json({"circuits": list(manifest)}))


def read_plan(path: str | Path) -> list[dict[str, Any]]:
    return list(json.loads(Path(path).read_text(encoding="utf-8"))["circuits"])


def aggregate_run(
    plan_path: str | Path,
    counts_paths: Sequence[str | Path],
    qasm_paths: Sequence[str | Path],
    run_records: Sequence[str | Path],
    *,
    summary_path: str | Path,
    runtimes_path: str | Path,
    plots: Mapping[str, str | Path],
    fidelity_max_qubits: int = 20,
) -> list[dict[str, Any]]:
    """Summary table, run-time table and plots of a finished run."""
    from qcos.results.aggregate import runtime_rows, summarize, write_runtimes, write_summary
    from qcos.results.plots import plot_all

    specs = [CircuitSpec.from_dict(entry) for entry in read_plan(plan_path)]
    started = time.perf_counter()
    summary = summarize(specs, counts_paths, qasm_paths, fidelity_max_qubits=fidelity_max_qubits)
    write_summary(summary_path, summary)
    runtimes = runtime_rows(specs, run_records, {row["circuit_id"]: row["qubits"] for row in summary})
    write_runtimes(runtimes_path, runtimes)
    plot_all(summary, runtimes, plots)
    logger.info("aggregated %d circuit(s) in %.3fs", len(summary), time.perf_counter() - started)
    return summary


def write_provenance(path: str | Path, config: Mapping[str, Any], *, n_circuits: int,
                     workflow_dir: str | Path | None = None) -> dict[str, Any]:
    from qcos.results.provenance import provenance

    record = provenance(config, cluster=config["cluster"], n_circuits=n_circuits, workflow_dir=workflow_dir)
    atomic_write_text(path, canonical_json(record))
    return record
