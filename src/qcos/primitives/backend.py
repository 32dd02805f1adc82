"""``QcosBackend``: a Qiskit BackendV2 whose circuits run on a qcos cluster.

Why: ``transpile(qc, backend)``, ``backend.run(...)``, ``BackendSamplerV2`` and
``BackendEstimatorV2`` are the most common ways Qiskit code takes a device; this makes a
cluster one. The target is Aer's gate set on the widest online node.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterExpression
from qiskit.providers import BackendV2, Options
from qiskit.result import Result
from qiskit.result.models import ExperimentResult, ExperimentResultData
from qiskit.transpiler import Target

import qcos
from qcos.checks import require_int
from qcos.circuits.qasm import loads as load_qasm
from qcos.circuits.seeds import circuit_keys
from qcos.exceptions import PrimitiveError, QcosError
from qcos.primitives import bits
from qcos.primitives.job import QcosJob
from qcos.primitives.runner import RunRecord, SweepJob, make_qvm, run_sweep_jobs
from qcos.primitives.target import aer_target, widest_online
from qcos.providers.cluster import QPURegistry
from qcos.qvm import DistributedQVM
from qcos.qvm.sweeps import Sweep

logger = logging.getLogger(__name__)


class QcosBackend(BackendV2):
    """A BackendV2 over a qcos cluster (``cluster``: a registry or a DistributedQVM).

    ``run(circuits, shots=1024, seed_simulator=None, memory=False)`` returns a
    :class:`QcosJob`; its ``result()`` is a Qiskit ``Result`` with counts (and per-shot
    memory when asked). Other keywords go to the DistributedQVM built for the registry.
    """

    def __init__(self, cluster: QPURegistry | DistributedQVM, *, name: str = "qcos", **options: Any) -> None:
        self._qvm = make_qvm(cluster, options, owner="QcosBackend")
        registry = self._qvm.registry
        self._num_qubits = widest_online(registry) or max((s.max_qubits for s in registry.nodes), default=1)
        online = sum(1 for spec in registry.nodes if spec.online)
        super().__init__(
            name=name,
            description=f"qcos cluster: {online} of {len(registry.nodes)} node(s) online, Aer gate set",
            backend_version=qcos.__version__,
        )

    @property
    def target(self) -> Target:
        return aer_target(self._num_qubits, self._qvm.options)

    @property
    def max_circuits(self) -> None:
        return None

    @property
    def qvm(self) -> DistributedQVM:
        """The DistributedQVM that runs this backend's circuits."""
        return self._qvm

    @classmethod
    def _default_options(cls) -> Options:
        return Options(shots=1024, seed_simulator=None, memory=False, parameter_binds=None)

    def run(self, run_input: QuantumCircuit | Sequence[QuantumCircuit], **options: Any) -> QcosJob:
        """Submit circuits to the cluster; returns at once with a running job."""
        circuits = [run_input] if isinstance(run_input, (QuantumCircuit, str)) else list(run_input)
        circuits = [load_qasm(c, source=f"circuit #{i}") if isinstance(c, str) else c for i, c in enumerate(circuits)]
        for index, circuit in enumerate(circuits):
            if not isinstance(circuit, QuantumCircuit):
                raise PrimitiveError(f"QcosBackend.run: circuit #{index} is a {type(circuit).__name__}, not a QuantumCircuit")
        settings = self._run_settings(options)
        binds = settings.pop("parameter_binds")
        values: list[np.ndarray | None] = expand_binds(circuits, binds) if binds is not None else [None] * len(circuits)
        job_id = str(uuid.uuid4())
        job = QcosJob(self, job_id, lambda: self._execute(circuits, values, job_id, **settings))
        job.submit()
        return job

    def _run_settings(self, options: dict[str, Any]) -> dict[str, Any]:
        valid = sorted(vars(self.options))
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise PrimitiveError(f"QcosBackend.run: unknown option(s) {unknown}; valid options are: {', '.join(valid)}")
        settings = {name: options.get(name, getattr(self.options, name)) for name in valid}
        shots = settings["shots"]
        shots = require_int("QcosBackend.run: shots", shots, error=PrimitiveError)
        seed = settings["seed_simulator"]
        if seed is not None:
            seed = require_int("QcosBackend.run: seed_simulator", seed, minimum=0, error=PrimitiveError,
                               what="a non-negative integer or None")
        return {"shots": shots, "seed": seed, "memory": bool(settings["memory"]),
                "parameter_binds": settings["parameter_binds"]}

    def _execute(self, circuits: list[QuantumCircuit], values: list[np.ndarray | None], job_id: str, *,
                 shots: int, seed: int | None, memory: bool) -> Result:
        """Each measured circuit is one sweep (its parameter_binds points, or one point), so the
        points of a bound circuit run as parametric chunks; a plain circuit's seeds are those of
        ``run_batch`` (a sweep's point 0 has its circuit's chunk seed)."""
        measured = [i for i, c in enumerate(circuits) if c.num_clbits]
        keys = circuit_keys([circuits[i] for i in measured])
        jobs = [SweepJob(Sweep.of(circuits[i], _points(circuits[i], values[i], i), key), shots)
                for i, key in zip(measured, keys, strict=True)]
        record, starts = run_sweep_jobs(self._qvm, jobs, seed)
        where = {i: (key, start) for i, key, start in zip(measured, keys, starts, strict=True)}
        experiments = []
        for i, circuit in enumerate(circuits):
            rows = values[i]
            for point in range(1 if rows is None else len(rows)):
                key, start = where.get(i, ("", -1))
                result = record.results[start + point] if start >= 0 else None
                label = key if rows is None else f"{key}/{point}"
                experiments.append(self._experiment(circuit, None if rows is None else rows[point], shots, record,
                                                    label, result, memory=memory))
        return Result(
            backend_name=self.name, backend_version=self.backend_version, job_id=job_id, success=True,
            results=experiments, date=datetime.datetime.now(datetime.UTC).isoformat(), status="COMPLETED",
            seed=record.seed, nodes=record.nodes, per_node=record.per_node, time_taken=record.wall_s,
        )

    def _experiment(self, circuit: QuantumCircuit, row: np.ndarray | None, shots: int, record: RunRecord, key: str,
                    result: Any, *, memory: bool) -> ExperimentResult:
        data: dict[str, Any] = {}
        metadata: dict[str, Any] = {}
        if result is not None:
            data["counts"] = bits.hex_counts(result.counts, circuit.num_clbits)
            if memory:
                rng = bits.shot_order_rng(record.seed, key)
                data["memory"] = bits.hex_memory(result.counts, circuit.num_clbits, rng)
            metadata = {"nodes": result.node_ids, "chunks": len(result.chunks), "timings": dict(result.timings)}
        header = {
            "name": circuit.name,
            "creg_sizes": [[r.name, r.size] for r in circuit.cregs],
            "memory_slots": circuit.num_clbits,
            "n_qubits": circuit.num_qubits,
            "qreg_sizes": [[r.name, r.size] for r in circuit.qregs],
            "global_phase": _phase(circuit, row),
            "metadata": circuit.metadata,
        }
        return ExperimentResult(shots=shots, success=True, data=ExperimentResultData(**data), header=header,
                                status="DONE", seed_simulator=record.seed, metadata=metadata)

    def __repr__(self) -> str:
        return f"<QcosBackend {self.name!r} {len(self._qvm.registry.nodes)} node(s), {self._num_qubits} qubits>"


def expand_binds(circuits: list[QuantumCircuit], binds: Sequence[Any]) -> list[np.ndarray | None]:
    """Aer's ``parameter_binds``: one ``{parameter: [values]}`` per circuit, one experiment per value;
    per circuit a ``(values, parameters)`` array in ``circuit.parameters`` order."""
    if isinstance(binds, dict) or len(binds) != len(circuits):
        raise PrimitiveError(f"QcosBackend.run: parameter_binds needs one {{parameter: [values]}} mapping per circuit "
                             f"({len(circuits)}), got {binds!r:.200}")
    tables: list[np.ndarray | None] = []
    for index, (circuit, bind) in enumerate(zip(circuits, binds, strict=True)):
        missing = sorted(p.name for p in set(circuit.parameters) - set(bind))
        extra = sorted(str(p) for p in set(bind) - set(circuit.parameters))
        if missing or extra:
            raise PrimitiveError(f"QcosBackend.run: parameter_binds[{index}] for circuit {circuit.name!r}: "
                                 f"missing {missing}, not in the circuit {extra}")
        values = {p: np.atleast_1d(np.asarray(v, dtype=float)) for p, v in bind.items()}
        lengths = sorted({len(v) for v in values.values()})
        if len(lengths) > 1:
            raise PrimitiveError(f"QcosBackend.run: parameter_binds[{index}] lists values of lengths {lengths}; "
                                 "give every parameter the same number")
        if not lengths:
            tables.append(None)
            continue
        tables.append(np.stack([values[p] for p in circuit.parameters], axis=1))
    return tables


def _points(circuit: QuantumCircuit, rows: np.ndarray | None, index: int) -> np.ndarray:
    """The sweep values of circuit ``index``: its bound rows, or one point of nothing to bind."""
    if rows is not None:
        return rows
    if circuit.num_parameters:
        names = ", ".join(sorted(p.name for p in circuit.parameters))
        raise QcosError(f"circuit #{index} ({circuit.name!r}) has unbound parameters ({names}): "
                        "assign_parameters() first, or pass parameter_binds")
    return np.zeros((1, 0))


def _phase(circuit: QuantumCircuit, row: np.ndarray | None) -> float:
    """The circuit's global phase at ``row`` (0 when it stays symbolic)."""
    phase = circuit.global_phase
    if isinstance(phase, ParameterExpression):
        if row is None:
            return 0.0
        values = dict(zip(circuit.parameters, row.tolist(), strict=True))
        phase = phase.bind({p: values[p] for p in phase.parameters})
        if phase.parameters:
            return 0.0
    return float(phase)
