"""The primitives' one road to a cluster: sweeps in, merged counts per point out, via DistributedQVM.run_sweeps.

Why: Sampler, Estimator and QcosBackend differ in what they build and read back, not in
how they run; this keeps the options, seeds, shot grouping and run metadata in one place.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from qiskit.primitives import PrimitiveJob

from qcos.checks import require_int
from qcos.circuits.seeds import new_run_seed
from qcos.exceptions import PrimitiveError
from qcos.primitives.templates import TemplateCache
from qcos.providers.cluster import QPURegistry
from qcos.qvm import DistributedQVM, QVMResult
from qcos.qvm.sweeps import Sweep

logger = logging.getLogger(__name__)

PubT = TypeVar("PubT")
ResultT = TypeVar("ResultT")

#: DistributedQVM arguments the primitives set themselves
_OWN = frozenset({"self", "registry", "shots", "seed"})


def qvm_option_names() -> list[str]:
    """The DistributedQVM options a primitive passes through (chunk_shots, max_attempts, ...)."""
    return [name for name in inspect.signature(DistributedQVM.__init__).parameters if name not in _OWN]


def make_qvm(cluster: QPURegistry | DistributedQVM, options: Mapping[str, Any], *, owner: str) -> DistributedQVM:
    """A DistributedQVM for ``cluster`` (a registry, or a ready DistributedQVM used as it is)."""
    if isinstance(cluster, DistributedQVM):
        if options:
            raise PrimitiveError(f"{owner}: options {sorted(options)} go to DistributedQVM(...) when you pass one in")
        return cluster
    if not isinstance(cluster, QPURegistry):
        raise TypeError(
            f"{owner} needs the QPURegistry from ClusterBuilder().build() or a DistributedQVM, got {type(cluster).__name__}"
        )
    valid = qvm_option_names()
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise PrimitiveError(f"{owner}: unknown option(s) {unknown}; valid options are: {', '.join(valid)}")
    return DistributedQVM(cluster, **dict(options))


class ClusterPrimitive:
    """What Sampler and Estimator share: a checked seed, their DistributedQVM and template cache."""

    def _bind_cluster(self, cluster: QPURegistry | DistributedQVM, *, seed: int | None,
                      optimization_level: int, options: Mapping[str, Any], owner: str) -> None:
        if seed is not None:
            seed = require_int("seed", seed, minimum=0, error=PrimitiveError, what="a non-negative integer or None")
        qvm_options = dict(options)
        if not isinstance(cluster, DistributedQVM):
            qvm_options["optimization_level"] = optimization_level
        self._qvm = make_qvm(cluster, qvm_options, owner=owner)
        self._seed = seed
        self._templates = TemplateCache(self._qvm.optimization_level, self._qvm.options)

    @property
    def seed(self) -> int | None:
        return self._seed

    @staticmethod
    def _submit(run: Callable[[list[PubT]], ResultT], pubs: list[PubT]) -> PrimitiveJob[ResultT]:
        """Start ``run(pubs)`` as Qiskit's PrimitiveJob does for its reference primitives."""
        job = PrimitiveJob(run, pubs)
        job._submit()
        return job

    @property
    def qvm(self) -> DistributedQVM:
        """The DistributedQVM that runs this primitive's circuits."""
        return self._qvm


@dataclass(frozen=True)
class SweepJob:
    """One parametric circuit at its points (a :class:`~qcos.qvm.sweeps.Sweep`) and the shots of each point."""

    sweep: Sweep
    shots: int


@dataclass
class RunRecord:
    """What a run did: its seed, the results in job order, and where and how long it ran."""

    seed: int
    results: list[QVMResult]  # every point's result, job after job
    wall_s: float
    per_node: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def nodes(self) -> list[str]:
        """Nodes that ran at least one chunk."""
        return sorted(node for node, usage in self.per_node.items() if usage.get("chunks"))


def run_sweep_jobs(qvm: DistributedQVM, jobs: Sequence[SweepJob], seed: int | None) -> tuple[RunRecord, list[int]]:
    """Run ``jobs`` as sweeps: one ``run_sweeps`` per distinct shot count (points of equal shots
    share parametric chunks). Returns the record (every point's result, job after job) and
    where each job's points start in it."""
    run_seed = seed if seed is not None else (qvm.seed if qvm.seed is not None else new_run_seed())
    started = time.perf_counter()
    starts, total = [], 0
    for job in jobs:
        starts.append(total)
        total += job.sweep.points
    groups: dict[int, list[int]] = {}
    for index, job in enumerate(jobs):
        groups.setdefault(job.shots, []).append(index)
    results: list[QVMResult | None] = [None] * total
    per_node: dict[str, dict[str, Any]] = {}
    for shots, indices in groups.items():
        batch = qvm.run_sweeps([jobs[i].sweep for i in indices], shots, run_seed)
        at = 0
        for i in indices:
            points = jobs[i].sweep.points
            results[starts[i]:starts[i] + points] = batch[at:at + points]
            at += points
        _add_usage(per_node, batch.per_node)
    wall = time.perf_counter() - started
    logger.info("ran %d point(s) of %d sweep(s) in %d batch(es) in %.3fs (seed %d)",
                total, len(jobs), len(groups), wall, run_seed)
    return RunRecord(run_seed, [r for r in results if r is not None], wall, per_node), starts


def _add_usage(total: dict[str, dict[str, Any]], usage: Mapping[str, Mapping[str, Any]]) -> None:
    """Add one batch's per-node numbers (chunks, shots, busy seconds) to ``total``."""
    for node, numbers in usage.items():
        entry = total.setdefault(node, {})
        for name, value in numbers.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                entry[name] = entry.get(name, 0) + value


def pub_metadata(results: Sequence[QVMResult], *, seed: int, shots: int, timings: Mapping[str, float]) -> dict[str, Any]:
    """Per-PUB metadata: shots, seed, the nodes that ran it, its chunks and timings (seconds)."""
    return {
        "shots": shots,
        "seed": seed,
        "nodes": sorted({node for result in results for node in result.node_ids}),
        "chunks": sum(len(result.chunks) for result in results),
        "timings": {
            **{name: round(value, 6) for name, value in timings.items()},
            "execute_s": round(sum(result.timings.get("execute_s", 0.0) for result in results), 6),
        },
    }
