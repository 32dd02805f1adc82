"""``qcos.primitives.Estimator``: Qiskit's EstimatorV2 over a qcos cluster.

Why: expectation values are what variational algorithms ask for. Each PUB's circuit is
transpiled once; the Pauli terms of its observables are grouped into qubit-wise
commuting bases, and each basis becomes one sweep over the points that need it (run as
parametric chunks on the cluster), with ``ceil(1 / precision**2)`` shots per point, as
Qiskit's ``BackendEstimatorV2`` derives them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qiskit.primitives import BaseEstimatorV2, PrimitiveJob
from qiskit.primitives.containers import DataBin, PrimitiveResult, PubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub, EstimatorPubLike

from qcos.exceptions import PrimitiveError
from qcos.primitives import bits
from qcos.primitives.grouping import (
    Basis,
    estimate,
    group_bases,
    identity_label,
    measured_circuit,
    term_signs,
)
from qcos.primitives.runner import (
    ClusterPrimitive,
    RunRecord,
    SweepJob,
    pub_metadata,
    run_sweep_jobs,
)
from qcos.primitives.target import widest_online
from qcos.primitives.templates import Template
from qcos.providers.cluster import QPURegistry
from qcos.qvm import DistributedQVM

logger = logging.getLogger(__name__)


@dataclass
class _Plan:
    """How one PUB maps onto bound circuits: which (point, basis) each job measures."""

    pub: EstimatorPub
    shots: int
    points: np.ndarray  # flat parameter-point index of each output element (the PUB's shape)
    observables: np.ndarray  # {pauli label: coefficient} of each output element
    bases: list[Basis]
    clbit_start: int
    jobs: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # (point, basis) -> (sweep job, row)
    timings: dict[str, float] = field(default_factory=dict)


class Estimator(ClusterPrimitive, BaseEstimatorV2):
    """EstimatorV2 on a qcos cluster (``cluster``: a registry or a DistributedQVM, as for Sampler)."""

    def __init__(self, cluster: QPURegistry | DistributedQVM, *, default_precision: float = 0.015625,
                 seed: int | None = None, optimization_level: int = 1, **options: Any) -> None:
        if isinstance(default_precision, bool) or not isinstance(default_precision, (int, float)) or not default_precision > 0:
            raise PrimitiveError(f"default_precision must be a positive number, got {default_precision!r}")
        self._bind_cluster(cluster, seed=seed, optimization_level=optimization_level, options=options, owner="Estimator")
        self._default_precision = float(default_precision)

    @property
    def default_precision(self) -> float:
        return self._default_precision

    def run(self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None) -> PrimitiveJob[PrimitiveResult[PubResult]]:
        if precision is None:
            precision = self._default_precision
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        for index, pub in enumerate(coerced):
            if pub.precision <= 0:
                raise PrimitiveError(f"The {index}-th pub has precision {pub.precision}; precision must be larger than 0.")
        return self._submit(self._run, coerced)

    # -- internals --------------------------------------------------------
    def _run(self, pubs: list[EstimatorPub]) -> PrimitiveResult[PubResult]:
        widest = widest_online(self._qvm.registry)
        plans: list[_Plan] = []
        jobs: list[SweepJob] = []
        occurrences: dict[str, int] = {}
        for pub in pubs:
            num_qubits = max(widest, pub.circuit.num_qubits)
            template = self._templates.get(pub.circuit, num_qubits)
            occurrence = occurrences.get(template.fingerprint, 0)
            occurrences[template.fingerprint] = occurrence + 1
            plans.append(self._plan(pub, template, num_qubits, occurrence, jobs))
        record, starts = run_sweep_jobs(self._qvm, jobs, self._seed)
        results = [self._pub_result(plan, record, starts) for plan in plans]
        metadata = {"version": 2, "seed": record.seed, "nodes": record.nodes, "wall_s": round(record.wall_s, 6)}
        return PrimitiveResult(results, metadata=metadata)

    def _plan(self, pub: EstimatorPub, template: Template, num_qubits: int, occurrence: int,
              jobs: list[SweepJob]) -> _Plan:
        """One sweep per measurement basis (over the points that need it), appended to ``jobs``."""
        started = time.perf_counter()
        shape = pub.parameter_values.shape
        flat = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)
        points, observables = np.broadcast_arrays(flat, np.asarray(pub.observables))
        needed: dict[int, set[str]] = {}
        for index in np.ndindex(points.shape):
            needed.setdefault(int(points[index]), set()).update(observables[index])
        bases = group_bases(label for labels in needed.values() for label in labels)
        plan = _Plan(pub, math.ceil(1.0 / pub.precision**2), points, observables, bases, template.circuit.num_clbits)
        values = (pub.parameter_values.as_array(pub.circuit.parameters) if pub.circuit.num_parameters
                  else np.zeros(shape + (0,))).reshape(flat.size, pub.circuit.num_parameters)
        layout = template.circuit.layout
        physical = layout.final_index_layout() if layout is not None else list(range(pub.circuit.num_qubits))
        for b, basis in enumerate(bases):
            served = set(basis.labels)
            wanted = [p for p in sorted(needed) if needed[p] & served]
            if not wanted:
                continue
            circuit = measured_circuit(template.circuit, basis, physical)
            if not self._templates.native(circuit, num_qubits):  # e.g. a noise model without h/sdg
                circuit = self._templates.compile(circuit, num_qubits)
            circuit.name = f"{pub.circuit.name}/{basis.label}"
            measured = Template(pub.circuit, circuit, template.fingerprint, 0.0)
            key = f"{template.fingerprint}#{occurrence}/{basis.label}"
            for row, point in enumerate(wanted):
                plan.jobs[point, b] = (len(jobs), row)
            jobs.append(SweepJob(measured.sweep(values[wanted], key), plan.shots))
        plan.timings = {"transpile_s": template.transpile_s, "bind_s": time.perf_counter() - started}
        return plan

    def _pub_result(self, plan: _Plan, record: RunRecord, starts: list[int]) -> PubResult:
        signs: dict[tuple[int, int], tuple[dict[str, np.ndarray], np.ndarray]] = {}
        for (point, b), (job, row) in plan.jobs.items():
            result = record.results[starts[job] + row]
            basis = plan.bases[b]
            rows, frequencies = bits.outcome_bits(result.counts, plan.clbit_start + len(basis.qubits))
            rows = rows[:, plan.clbit_start:]
            signs[point, b] = (term_signs(rows, basis, basis.labels), frequencies)
        basis_of = {label: b for b, basis in enumerate(plan.bases) for label in basis.labels}
        evs = np.zeros(plan.points.shape)
        variances = np.zeros(plan.points.shape)
        for index in np.ndindex(plan.points.shape):
            point = int(plan.points[index])
            by_basis: dict[int, dict[str, float]] = {}
            terms: dict[str, float] = plan.observables.item(index)
            for label, coefficient in terms.items():
                if identity_label(label):
                    evs[index] += coefficient
                else:
                    by_basis.setdefault(basis_of[label], {})[label] = coefficient
            for b, terms in by_basis.items():
                term_sign, frequencies = signs[point, b]
                mean, variance = estimate(terms, term_sign, frequencies)
                evs[index] += mean
                variances[index] += variance
        used = [record.results[starts[job] + row] for job, row in plan.jobs.values()]
        metadata = pub_metadata(used, seed=record.seed, shots=plan.shots, timings=plan.timings)
        metadata.update(target_precision=plan.pub.precision, circuit_metadata=plan.pub.circuit.metadata,
                        bases=[basis.label for basis in plan.bases], circuits=len(plan.jobs))
        return PubResult(DataBin(evs=evs, stds=np.sqrt(variances), shape=evs.shape), metadata=metadata)
