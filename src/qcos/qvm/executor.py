"""The built-in Aer executor of one DistributedQVM run: circuits prepared once per target, sweeps as groups."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from qiskit import QuantumCircuit

from qcos.circuits.noise import RUN_OPTION_KEY, NoiseSpec
from qcos.counts import Counts
from qcos.exceptions import CircuitError, NodeExecutionError
from qcos.providers.base import ShotTask, TaskOutcome
from qcos.providers.spec import QPUNodeSpec
from qcos.qvm.result import FallbackCounts
from qcos.qvm.sweeps import PointRef, Sweep, group_points
from qcos.workers import Chunk as WorkerChunk
from qcos.workers import Outcome, WorkerPool, qpy_bytes, simulator
from qcos.workers.jobs import ParameterTable
from qcos.workers.parametric import run_points

logger = logging.getLogger(__name__)

#: What the caches are keyed by: a circuit's index, or ("sweep", i) for a sweep's circuit.
Slot = int | tuple[str, int]

_AER_OPTION_NAMES = simulator.option_names()


class RunExecutor:
    """The :class:`~qcos.providers.base.BuiltinExecutor` of one run, handed to ``NodeProvider.run_tasks``.

    Each circuit is transpiled once per target (node options + run options) and serialized
    once for the workers, whichever node asks first; sweep points (``points``: circuit index ->
    sweep point) run as parametric groups, one Aer call per group. ``transpile_s`` sums the
    transpile time per circuit index for the run's timings.
    """

    def __init__(self, *, options: Mapping[str, Any], noise: NoiseSpec | None, optimization_level: int,
                 chunk_timeout_s: float | None, sweeps: Sequence[Sweep] = (),
                 points: Mapping[int, PointRef] | None = None) -> None:
        self._options = dict(options)
        self._noise = noise
        self._optimization_level = optimization_level
        self._chunk_timeout_s = chunk_timeout_s
        self._sweeps = list(sweeps)
        self._points = dict(points or {})
        self._prepared: dict[tuple[Slot, simulator.OptionsKey], QuantumCircuit] = {}
        self._prepare_locks: dict[tuple[Slot, simulator.OptionsKey], threading.Lock] = {}
        self._prepare_guard = threading.Lock()
        self._payloads: dict[tuple[Slot, simulator.OptionsKey], bytes] = {}
        self.transpile_s: dict[Slot, float] = {}

    @property
    def has_points(self) -> bool:
        """Whether this run holds sweep points (a provider that runs chunks itself needs them bound)."""
        return bool(self._points)

    def bound(self, task: ShotTask) -> ShotTask:
        """``task`` with its sweep point bound (a plain task as it is)."""
        ref = self._points.get(task.circuit_index)
        if ref is None:
            return task
        return dataclasses.replace(task, circuit=self._sweeps[ref.sweep].bind(ref.point))

    def __call__(self, tasks: Sequence[ShotTask], node: QPUNodeSpec, pool: WorkerPool | None, *,
                     declined: bool) -> list[TaskOutcome]:
        """Run ``tasks`` on ``node``: on the provider's worker processes when it has them, else here."""
        outcomes: list[TaskOutcome] = [None] * len(tasks)
        options = {k: v for k, v in node.options.items() if k in _AER_OPTION_NAMES} | self._options
        wrap: type[Counts] = FallbackCounts if declined else dict
        prepared: dict[int, QuantumCircuit] = {}
        points = [i for i, task in enumerate(tasks) if task.circuit_index in self._points]
        for i, task in enumerate(tasks):
            if task.circuit_index in self._points:
                continue
            try:
                prepared[i] = self._prepare(task, options)
            except Exception as error:
                outcomes[i] = error
        groups = group_points(tasks, points, self._points)
        if pool is not None and (prepared or groups):
            timeout = node.options.get("chunk_timeout_s", self._chunk_timeout_s)
            # the worker rebuilds the NoiseModel from the canonical spec in its run options
            run_options = {**options, RUN_OPTION_KEY: self._noise.to_dict()} if self._noise is not None else options
            chunks = [WorkerChunk(self._payload(tasks[i], options, prepared[i]), tasks[i].shots, tasks[i].seed,
                                  run_options)
                      for i in prepared]
            parametric = self._group_chunks(tasks, groups, options, run_options, outcomes)
            done = pool.run(chunks + [chunk for _, chunk in parametric], timeout_s=timeout or None)
            for i, outcome in zip(prepared, done, strict=False):
                outcomes[i] = (_wrap(wrap, outcome.counts) if outcome.ok and outcome.counts is not None
                               else _chunk_error(node.node_id, outcome))
            for (group, _), outcome in zip(parametric, done[len(chunks):], strict=True):
                _spread(outcomes, group, outcome, wrap, node.node_id)
            return outcomes
        for i, circuit in prepared.items():
            try:
                outcomes[i] = _wrap(wrap, simulator.run_counts(circuit, tasks[i].shots, tasks[i].seed, options,
                                                               node_id=node.node_id, noise=self._noise))
            except Exception as error:
                outcomes[i] = error
        for group in groups:
            self._run_group_here(node, tasks, group, options, wrap, outcomes)
        return outcomes

    def _group_input(self, tasks: Sequence[ShotTask], group: list[int],
                     options: Mapping[str, Any]) -> tuple[int, QuantumCircuit, ParameterTable]:
        """A group's sweep, its circuit ready for Aer on this target (prepared once per run) and its points' table."""
        sweep = self._points[tasks[group[0]].circuit_index].sweep
        template = self._prepared_for(("sweep", sweep), self._sweeps[sweep].circuit, options)
        table = self._sweeps[sweep].table(template, [self._points[tasks[i].circuit_index].point for i in group])
        return sweep, template, table

    def _group_chunks(self, tasks: Sequence[ShotTask], groups: list[list[int]], options: Mapping[str, Any],
                      run_options: Mapping[str, Any], outcomes: list[TaskOutcome]) -> list[tuple[list[int], WorkerChunk]]:
        """One parametric worker chunk per group; a group whose circuit cannot be prepared fails here."""
        chunks = []
        for group in groups:
            first = tasks[group[0]]
            try:
                sweep, template, table = self._group_input(tasks, group, options)
                payload = self._payload_for(("sweep", sweep), options, template)
            except Exception as error:
                for i in group:
                    outcomes[i] = error
                continue
            chunks.append((group, WorkerChunk(payload, first.shots, first.seed, run_options, table)))
        return chunks

    def _run_group_here(self, node: QPUNodeSpec, tasks: Sequence[ShotTask], group: list[int],
                        options: Mapping[str, Any], wrap: type[Counts], outcomes: list[TaskOutcome]) -> None:
        """Run a group of sweep points in this process (no worker pool): one Aer call."""
        first = tasks[group[0]]
        try:
            _, template, table = self._group_input(tasks, group, options)
            counts = run_points(template, table, first.shots, first.seed, options,
                                node_id=node.node_id, noise=self._noise)
        except Exception as error:
            for i in group:
                outcomes[i] = error
            return
        for i, point in zip(group, counts, strict=True):
            outcomes[i] = _wrap(wrap, point)

    def _payload(self, task: ShotTask, options: Mapping[str, Any], circuit: QuantumCircuit) -> bytes:
        """The prepared circuit as QPY bytes for a worker, serialized once per circuit and target."""
        return self._payload_for(task.circuit_index, options, circuit)

    def _payload_for(self, slot: Slot, options: Mapping[str, Any], circuit: QuantumCircuit) -> bytes:
        key = (slot, simulator.options_key(options))
        payload = self._payloads.get(key)
        if payload is None:
            payload = self._payloads[key] = qpy_bytes(circuit)
        return payload

    def _prepare(self, task: ShotTask, options: Mapping[str, Any]) -> QuantumCircuit:
        """Transpile a circuit once per target (reused pass manager), shared by its chunks."""
        return self._prepared_for(task.circuit_index, task.circuit, options)

    def _prepared_for(self, slot: Slot, circuit: QuantumCircuit,
                      options: Mapping[str, Any]) -> QuantumCircuit:
        key = (slot, simulator.options_key(options))
        prepared = self._prepared.get(key)
        if prepared is not None:
            return prepared
        with self._prepare_guard:
            lock = self._prepare_locks.setdefault(key, threading.Lock())
        with lock:
            prepared = self._prepared.get(key)
            if prepared is None:
                started = time.perf_counter()
                prepared = simulator.prepare(circuit, options, self._optimization_level, noise=self._noise)
                self.transpile_s[slot] = self.transpile_s.get(slot, 0.0) + (time.perf_counter() - started)
                self._prepared[key] = prepared
        return prepared


def _spread(outcomes: list[TaskOutcome], group: list[int], outcome: Outcome, wrap: type[Counts],
            node_id: str) -> None:
    """A parametric chunk's outcome back onto its points' tasks."""
    if outcome.ok and outcome.points is not None:
        for i, counts in zip(group, outcome.points, strict=True):
            outcomes[i] = _wrap(wrap, counts)
        return
    error = _chunk_error(node_id, outcome)
    for i in group:
        outcomes[i] = error


def _wrap(kind: type[Counts], counts: Mapping[str, int]) -> Counts:
    """Counts as ``kind`` (dict or FallbackCounts), keeping Aer's ``sim_s`` when it came with them."""
    sim_s = getattr(counts, "sim_s", None)
    if sim_s is None:
        return kind(counts)
    wrapped = FallbackCounts(counts) if kind is FallbackCounts else simulator.SimCounts(counts)
    wrapped.sim_s = sim_s
    return wrapped


def _chunk_error(node_id: str, outcome: Outcome) -> NodeExecutionError:
    """A failed worker outcome as the scheduler's error: circuit-caused ones are final."""
    if outcome.circuit_caused:
        return CircuitError(node_id, outcome.message)
    return NodeExecutionError(node_id, f"{outcome.code}: {outcome.message}")
