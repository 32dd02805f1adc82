"""Parameter sweeps on a DistributedQVM: one parametric circuit, many points, run as parametric chunks.

Why: a sweep sent as N bound circuits costs N serialisations, N messages and N Aer calls.
As a :class:`Sweep`, each point is still its own chunk for the scheduler (spread over the
nodes, retried elsewhere, recorded), but the points a node takes run as groups: one
parametric circuit plus a table of values, one Aer call per group
(:mod:`qcos.workers.parametric`). Point ``p``'s seed is ``base + 2113 * p`` with ``base``
fixed by the run seed, the sweep's key and the chunk index, so a point's counts do not
depend on the group it lands in, on the node, or on the cluster's shape.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit import QuantumCircuit

from qcos.exceptions import QcosError
from qcos.providers.base import ShotTask
from qcos.workers.jobs import ParameterTable
from qcos.workers.parametric import AER_SEED_STRIDE, one_run, parameter_table

logger = logging.getLogger(__name__)

#: Most points in one parametric chunk (bounds a chunk's memory and its share of a retry).
MAX_GROUP_POINTS = 256


@dataclass(frozen=True)
class Sweep:
    """A measured circuit and the points to run it at.

    ``values`` has one row per point and one column per parameter of ``circuit``, in
    ``circuit.parameters`` order (a circuit without parameters takes ``(points, 0)``).
    ``key`` pins the seeds (default: the circuit's structural fingerprint, numbered for repeats).
    """

    circuit: QuantumCircuit
    values: np.ndarray
    key: str | None = None

    @classmethod
    def of(cls, circuit: QuantumCircuit, values: Any, key: str | None = None) -> Sweep:
        """A sweep with ``values`` checked and shaped ``(points, parameters)``."""
        width = circuit.num_parameters
        array = np.asarray(values, dtype=float)
        if array.ndim == 1 and width == 1:
            array = array.reshape(-1, 1)
        if array.ndim != 2 or array.shape[1] != width or array.shape[0] < 1:
            raise QcosError(f"sweep {circuit.name!r}: values must be (points, {width}) for its {width} "
                            f"parameter(s) ({', '.join(map(str, circuit.parameters)) or 'none'}), got shape {array.shape}")
        if not np.all(np.isfinite(array)):
            raise QcosError(f"sweep {circuit.name!r}: values must be finite numbers")
        return cls(circuit, array, key)

    @property
    def points(self) -> int:
        return int(self.values.shape[0])

    def bind(self, point: int) -> QuantumCircuit:
        """The circuit bound at ``point`` (for providers that run chunks themselves)."""
        bound = self.circuit.assign_parameters(self.values[point].tolist(), inplace=False) \
            if self.circuit.num_parameters else self.circuit.copy()
        bound.name = point_name(self.circuit, point)
        return bound

    def columns(self, circuit: QuantumCircuit) -> list[int]:
        """Where each parameter of ``circuit`` (this sweep's circuit, maybe transpiled) is in
        ``values``: transpiling can drop a parameter that had no effect, so they go by name."""
        column = {str(p): i for i, p in enumerate(self.circuit.parameters)}
        names = [str(p) for p in circuit.parameters]
        unknown = [name for name in names if name not in column]
        if unknown:
            raise QcosError(f"sweep {self.circuit.name!r}: the prepared circuit has parameters {unknown} "
                            "that the sweep does not set")
        return [column[name] for name in names]

    def recompiled(self, circuit: QuantumCircuit) -> Sweep:
        """This sweep over ``circuit``, a compiled form of its circuit (same parameter names)."""
        return Sweep(circuit, self.values[:, self.columns(circuit)], self.key)

    def table(self, circuit: QuantumCircuit, points: Sequence[int]) -> ParameterTable:
        """The rows ``points`` as a table for ``circuit`` (this sweep's circuit, maybe transpiled:
        transpiling can drop a parameter that had no effect, so columns go by name)."""
        rows = self.values[np.asarray(points, dtype=np.int64)][:, self.columns(circuit)]
        return parameter_table(circuit, rows.tolist())


@dataclass(frozen=True)
class PointRef:
    """Which sweep and point a circuit index of a sweep run stands for."""

    sweep: int
    point: int


def point_name(circuit: QuantumCircuit, point: int) -> str:
    return f"{circuit.name}[{point}]"


def group_points(tasks: Sequence[ShotTask], indices: Sequence[int], refs: dict[int, PointRef],
                 limit: int = MAX_GROUP_POINTS) -> list[list[int]]:
    """Split ``indices`` (into ``tasks``, all sweep points) into groups one Aer call can run:
    consecutive points of one sweep with one chunk index and shot count, whose seeds step
    by Aer's stride from the first one."""
    def order(i: int) -> tuple[int, int, int, int]:
        ref = refs[tasks[i].circuit_index]
        return ref.sweep, tasks[i].chunk_index, tasks[i].shots, ref.point

    groups: list[list[int]] = []
    for i in sorted(indices, key=order):
        if groups and len(groups[-1]) < limit and _extends(tasks, refs, groups[-1], i):
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _extends(tasks: Sequence[ShotTask], refs: dict[int, PointRef], group: list[int], i: int) -> bool:
    first, last, task = tasks[group[0]], tasks[group[-1]], tasks[i]
    head, tail, ref = refs[first.circuit_index], refs[last.circuit_index], refs[task.circuit_index]
    if (ref.sweep, task.chunk_index, task.shots) != (head.sweep, first.chunk_index, first.shots):
        return False
    if ref.point != tail.point + 1 or first.seed is None or task.seed is None:
        return False
    steps = ref.point - head.point
    return task.seed == first.seed + AER_SEED_STRIDE * steps and one_run(first.seed, steps + 1)
