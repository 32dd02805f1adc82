"""``qcos.primitives.Sampler``: Qiskit's SamplerV2 over a qcos cluster.

Why: code written against ``BaseSamplerV2`` (algorithm libraries, tutorials) can then use a
cluster unchanged. Each PUB's circuit is transpiled once; its bound points become
chunks spread over the nodes, with seeds that depend on the circuit and point only.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterable
from typing import Any

from qiskit.primitives import BaseSamplerV2, PrimitiveJob
from qiskit.primitives.containers import DataBin, PrimitiveResult, SamplerPubResult
from qiskit.primitives.containers.sampler_pub import SamplerPub, SamplerPubLike

from qcos.checks import require_int
from qcos.exceptions import PrimitiveError
from qcos.primitives import bits
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


class Sampler(ClusterPrimitive, BaseSamplerV2):
    """SamplerV2 on a qcos cluster.

    ``cluster`` is the registry from ``ClusterBuilder().build()`` or a ready
    ``DistributedQVM``; other keywords (``chunk_shots``, ``max_attempts``, ``progress``, ...)
    go to the DistributedQVM built for it. With a ``seed``, results are identical whatever
    the cluster's shape; without one, each run draws a seed and records it in the metadata.
    """

    def __init__(self, cluster: QPURegistry | DistributedQVM, *, default_shots: int = 1024,
                 seed: int | None = None, optimization_level: int = 1, **options: Any) -> None:
        self._default_shots = require_int("default_shots", default_shots, error=PrimitiveError)
        self._bind_cluster(cluster, seed=seed, optimization_level=optimization_level, options=options, owner="Sampler")

    @property
    def default_shots(self) -> int:
        return self._default_shots

    def run(self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None) -> PrimitiveJob[PrimitiveResult[SamplerPubResult]]:
        if shots is None:
            shots = self._default_shots
        coerced = [SamplerPub.coerce(pub, shots) for pub in pubs]
        for index, pub in enumerate(coerced):
            if not pub.circuit.cregs:
                warnings.warn(f"The {index}-th pub's circuit has no output classical registers and so the result "
                              "will be empty. Did you mean to add measurement instructions?", UserWarning, stacklevel=2)
        return self._submit(self._run, coerced)

    # -- internals --------------------------------------------------------
    def _run(self, pubs: list[SamplerPub]) -> PrimitiveResult[SamplerPubResult]:
        widest = widest_online(self._qvm.registry)
        plans: list[tuple[SamplerPub, Template, int | None, list[str], float]] = []
        jobs: list[SweepJob] = []
        occurrences: dict[str, int] = {}
        for pub in pubs:
            template = self._templates.get(pub.circuit, max(widest, pub.circuit.num_qubits))
            occurrence = occurrences.get(template.fingerprint, 0)
            occurrences[template.fingerprint] = occurrence + 1
            key = f"{template.fingerprint}#{occurrence}"
            if not pub.circuit.num_clbits or not pub.parameter_values.size:
                plans.append((pub, template, None, [], 0.0))
                continue
            started = time.perf_counter()
            sweep = template.sweep_all(pub.parameter_values, key)
            plans.append((pub, template, len(jobs), [f"{key}/{i}" for i in range(sweep.points)],
                          time.perf_counter() - started))
            jobs.append(SweepJob(sweep, pub.shots))
        record, starts = run_sweep_jobs(self._qvm, jobs, self._seed)
        results = [self._pub_result(pub, template, record, None if job is None else starts[job], keys, bind_s)
                   for pub, template, job, keys, bind_s in plans]
        metadata = {"version": 2, "seed": record.seed, "nodes": record.nodes, "wall_s": round(record.wall_s, 6)}
        return PrimitiveResult(results, metadata=metadata)

    def _pub_result(self, pub: SamplerPub, template: Template, record: RunRecord, start: int | None,
                    keys: list[str], bind_s: float) -> SamplerPubResult:
        slots = bits.register_slots(pub.circuit)
        points = record.results[start:start + len(keys)] if start is not None else []
        per_point = []
        for key, result in zip(keys, points, strict=True):
            rng = bits.shot_order_rng(record.seed, key)
            shots = bits.shot_bits(result.counts, pub.circuit.num_clbits, rng)
            per_point.append(bits.register_arrays(shots, slots))
        arrays = bits.stack_bitarrays(per_point, slots, pub.shape, pub.shots) if per_point else {}
        metadata = pub_metadata(points, seed=record.seed, shots=pub.shots,
                                timings={"transpile_s": template.transpile_s, "bind_s": bind_s})
        metadata["circuit_metadata"] = pub.circuit.metadata
        return SamplerPubResult(DataBin(**arrays, shape=pub.shape), metadata=metadata)
