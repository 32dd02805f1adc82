"""``DistributedQVM``: run circuits on a cluster of nodes as reproducible chunks of shots."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from qiskit import QuantumCircuit

from qcos.checks import require_int
from qcos.circuits.admission import admission_problem
from qcos.circuits.noise import RUN_OPTION_KEY, NoiseSpec, parse_noise
from qcos.circuits.qasm import loads as load_qasm
from qcos.circuits.seeds import circuit_keys, derive_seed, new_run_seed
from qcos.exceptions import (
    DispatchError,
    NoEligibleNodeError,
    QcosError,
)
from qcos.providers.base import ShotTask, TaskOutcome
from qcos.providers.cluster import ClusterBuilder, NodeHandle, QPURegistry
from qcos.qvm.executor import RunExecutor
from qcos.qvm.modes import QVMMode
from qcos.qvm.result import BatchResult, ChunkRecord, QVMResult, merged_result
from qcos.qvm.reuse import ChunkStore, split_reused
from qcos.qvm.scheduler import Chunk, ChunkScheduler, SchedulerOutcome
from qcos.qvm.sweeps import PointRef, Sweep, point_name
from qcos.workers import simulator
from qcos.workers.chunking import (
    AUTO,
    ChunkPlan,
    ChunkShots,
    chunk_plan,
    extend_plan,
    parse_chunk_shots,
)
from qcos.workers.parametric import point_seed

logger = logging.getLogger(__name__)

#: Shots per chunk unless set: "auto" cuts by what a shot costs (see qcos.workers.chunking):
#: an ideal circuit with terminal measurements is one simulation, so one chunk.
DEFAULT_CHUNK_SHOTS: ChunkShots = AUTO


class DistributedQVM:
    """A virtual QPU made of every online node of a cluster.

    Circuits are split into chunks of shots: with ``chunk_shots="auto"`` (default) by what
    a shot costs (:mod:`qcos.workers.chunking`), else into near-equal chunks of at most
    ``chunk_shots``. Each chunk's seed is derived from the run seed, the circuit (its
    structure, or the key you pass) and the chunk index, so with a seed the merged counts
    are identical whatever the cluster's shape and whichever node finishes first.

    ``options`` are run options: Aer options (e.g. ``{"noise_model": NoiseModel}``,
    ``{"method": "matrix_product_state"}``) applied over each node's own on every chunk
    the built-in Aer executor runs, and read by the chunk plan (a noisy circuit is split).
    Nodes whose provider runs chunks itself cannot apply them and are refused.
    """

    def __init__(
        self,
        registry: QPURegistry,
        mode: QVMMode | str = QVMMode.EMULATED,
        shots: int = 1024,
        seed: int | None = None,
        *,
        chunk_shots: ChunkShots = DEFAULT_CHUNK_SHOTS,
        max_attempts: int = 4,
        max_node_failures: int = 2,
        chunk_timeout_s: float | None = None,
        max_batch: int = 256,
        optimization_level: int = 1,
        progress: bool | None = None,
        options: Mapping[str, Any] | None = None,
        noise: Mapping[str, Any] | NoiseSpec | Any | None = None,
    ) -> None:
        if not isinstance(registry, QPURegistry):
            raise TypeError(f"DistributedQVM needs the QPURegistry from ClusterBuilder().build(), got {type(registry).__name__}")
        self.registry = registry
        self.mode = QVMMode(mode)
        self.shots = _positive_int("shots", shots)
        self.seed = seed
        self.chunk_shots = parse_chunk_shots(chunk_shots)
        self.options = simulator.validate_options(dict(options or {}), where="DistributedQVM options")
        self.max_attempts = _positive_int("max_attempts", max_attempts)
        self.max_node_failures = _positive_int("max_node_failures", max_node_failures)
        self.chunk_timeout_s = chunk_timeout_s
        self.max_batch = _positive_int("max_batch", max_batch)
        self.optimization_level = optimization_level
        self.progress = progress
        #: the noise every chunk runs with (a mapping, an Aer NoiseModel, or None = ideal)
        self.noise: NoiseSpec | None = parse_noise(noise, where="DistributedQVM(noise=...)")
        if self.noise is not None and "noise_model" in self.options:
            raise QcosError("DistributedQVM: give the noise once, as noise=... (it reaches every node), "
                            "not also as options['noise_model']")
        #: the built-in Aer executor of the run in progress (prepared circuits, payloads, sweep points)
        self._executor = RunExecutor(options=self.options, noise=self.noise, optimization_level=optimization_level,
                                     chunk_timeout_s=chunk_timeout_s)
        #: the node of QVMMode.LOCAL, built on first use
        self._local: QPURegistry | None = None
        #: run_batch keeps per-run state (prepared circuits, payloads): one run at a time
        self._run_lock = threading.Lock()

    # -- public API -------------------------------------------------------
    def run(
        self,
        circuits: QuantumCircuit | str | Sequence[QuantumCircuit | str],
        shots: int | None = None,
        seed: int | None = None,
        *,
        keys: Iterable[str] | None = None,
    ) -> QVMResult | list[QVMResult]:
        """Run one circuit (returns a QVMResult) or a list (returns a list of them)."""
        if isinstance(circuits, (QuantumCircuit, str)):
            return self.run_batch([circuits], shots, seed, keys=keys)[0]
        return list(self.run_batch(circuits, shots, seed, keys=keys))

    def run_batch(
        self,
        circuits: Sequence[QuantumCircuit | str],
        shots: int | None = None,
        seed: int | None = None,
        *,
        keys: Iterable[str] | None = None,
        store: ChunkStore | None = None,
    ) -> BatchResult:
        """Run many circuits at once; ``keys`` (e.g. circuit ids) pin each circuit's seeds.

        With a ``store`` (see :class:`qcos.qvm.reuse.ChunkStore`), chunks it already holds
        are taken from it instead of being run, and every chunk that finishes is handed to it.
        Calls from several threads on one instance take turns.
        """
        with self._run_lock:
            return self._run_batch(circuits, shots, seed, keys=keys, store=store)

    def run_sweeps(
        self,
        sweeps: Sequence[Sweep],
        shots: int | None = None,
        seed: int | None = None,
    ) -> BatchResult:
        """Run every point of each :class:`~qcos.qvm.sweeps.Sweep` (a parametric circuit and its
        values); one result per point, sweep after sweep, points in order.

        Each point is a chunk like a circuit of ``run_batch`` (spread over the nodes, retried
        elsewhere), but the points a node takes run as parametric chunks: one Aer call per
        group. Nodes whose provider runs chunks itself get the points bound. With a seed the
        counts are identical whatever the cluster's shape (see :mod:`qcos.qvm.sweeps`).
        """
        with self._run_lock:
            return self._run_sweeps(sweeps, shots, seed)

    def _run_batch(
        self,
        given: Sequence[QuantumCircuit | str],
        shots: int | None,
        seed: int | None,
        *,
        keys: Iterable[str] | None,
        store: ChunkStore | None,
    ) -> BatchResult:
        started = time.perf_counter()
        circuits = [_as_circuit(c, i) for i, c in enumerate(given)]
        if not circuits:
            raise QcosError("run_batch: no circuits given")
        shots = self.shots if shots is None else _positive_int("shots", shots)
        run_seed = seed if seed is not None else (self.seed if self.seed is not None else new_run_seed())
        try:
            circuit_key_list = circuit_keys(circuits, keys)
        except ValueError as error:
            raise QcosError(f"run_batch: {error}") from error
        handles = self._eligible_handles(circuits)
        self._check_options_reach(handles)
        if self.noise is not None:
            # compiled once here, so every node runs the same gates and draws the same errors
            circuits = [simulator.prepare(c, None, self.optimization_level, noise=self.noise) for c in circuits]
        run_options = self._noise_run_options(handles)
        plan_options = {**self.options, **run_options}  # the chunk plan splits noisy circuits
        plans = [chunk_plan(circuit, shots, self.chunk_shots, plan_options) for circuit in circuits]
        if store is not None:
            plans = [self._stored_plan(store, i, circuit, shots, plan, plan_options)
                     for i, (circuit, plan) in enumerate(zip(circuits, plans, strict=True))]
        chunks = [
            Chunk(ShotTask(circuit, part, derive_seed(run_seed, key, k), index, k, run_options), circuit.num_qubits)
            for index, (circuit, key, plan) in enumerate(zip(circuits, circuit_key_list, plans, strict=True))
            for k, part in enumerate(plan.shots)
        ]
        reused: dict[tuple[int, int], ChunkRecord] = {}
        if store is not None:
            reused, chunks = split_reused(chunks, store)
        outcome = self._dispatch(handles, chunks, store, [], {})
        outcome.records.update(reused)
        wall = time.perf_counter() - started
        results = self._assemble(circuits, circuit_key_list, plans, shots, run_seed, outcome.records, wall)
        batch = BatchResult(results, seed=run_seed, wall_s=wall, per_node=outcome.per_node, mode=self.mode.value)
        _raise_failed(outcome, [c.name for c in circuits], len(chunks), batch)
        logger.info("ran %d circuit(s), %d shots each, in %.3fs (seed %d)", len(circuits), shots, wall, run_seed)
        return batch

    def _run_sweeps(self, sweeps: Sequence[Sweep], shots: int | None, seed: int | None) -> BatchResult:
        started = time.perf_counter()
        sweeps = [_as_sweep(sweep, i) for i, sweep in enumerate(sweeps)]
        if not sweeps:
            raise QcosError("run_sweeps: no sweeps given")
        shots = self.shots if shots is None else _positive_int("shots", shots)
        run_seed = seed if seed is not None else (self.seed if self.seed is not None else new_run_seed())
        fingerprints = circuit_keys([sweep.circuit for sweep in sweeps])
        sweep_keys = [sweep.key if sweep.key is not None else fingerprint
                      for sweep, fingerprint in zip(sweeps, fingerprints, strict=True)]
        if len(set(sweep_keys)) != len(sweep_keys):
            raise QcosError(f"run_sweeps: sweep keys must be unique; got {sweep_keys}")
        handles = self._eligible_handles([sweep.circuit for sweep in sweeps])
        self._check_options_reach(handles)
        if self.noise is not None:  # compiled once per sweep, as run_batch does per circuit
            sweeps = [sweep.recompiled(simulator.prepare(sweep.circuit, None, self.optimization_level, noise=self.noise))
                      for sweep in sweeps]
        run_options = self._noise_run_options(handles)
        plan_options = {**self.options, **run_options}
        sweep_plans = [chunk_plan(sweep.circuit, shots, self.chunk_shots, plan_options) for sweep in sweeps]
        circuits: list[QuantumCircuit] = []
        keys: list[str] = []
        plans: list[ChunkPlan] = []
        chunks: list[Chunk] = []
        refs: dict[int, PointRef] = {}
        for s, (sweep, key, plan) in enumerate(zip(sweeps, sweep_keys, sweep_plans, strict=True)):
            bases = [derive_seed(run_seed, key, k) for k in range(len(plan.shots))]
            for point in range(sweep.points):
                index = len(circuits)
                refs[index] = PointRef(s, point)
                circuits.append(sweep.circuit)
                keys.append(f"{key}/{point}")
                plans.append(plan)
                chunks.extend(Chunk(ShotTask(sweep.circuit, part, point_seed(bases[k], point), index, k, run_options),
                                    sweep.circuit.num_qubits) for k, part in enumerate(plan.shots))
        outcome = self._dispatch(handles, chunks, None, sweeps, refs)
        wall = time.perf_counter() - started
        results = self._assemble(circuits, keys, plans, shots, run_seed, outcome.records, wall)
        for index, result in enumerate(results):
            ref = refs[index]
            result.name = point_name(sweeps[ref.sweep].circuit, ref.point)
            result.metadata.update(sweep=ref.sweep, point=ref.point)
        batch = BatchResult(results, seed=run_seed, wall_s=wall, per_node=outcome.per_node, mode=self.mode.value)
        _raise_failed(outcome, [result.name for result in results], len(chunks), batch)
        logger.info("ran %d point(s) of %d sweep(s), %d shots each, in %.3fs (seed %d)",
                    len(circuits), len(sweeps), shots, wall, run_seed)
        return batch

    def _dispatch(self, handles: list[NodeHandle], chunks: list[Chunk], store: ChunkStore | None,
                  sweeps: list[Sweep], refs: dict[int, PointRef]) -> SchedulerOutcome:
        """Run ``chunks`` on ``handles`` with fresh per-run state (prepared circuits, payloads, sweeps)."""
        self._executor = RunExecutor(options=self.options, noise=self.noise, optimization_level=self.optimization_level,
                                     chunk_timeout_s=self.chunk_timeout_s, sweeps=sweeps, points=refs)
        scheduler = ChunkScheduler(
            handles, self._run_on_node, max_attempts=self.max_attempts,
            max_node_failures=self.max_node_failures, timeout_s=self.chunk_timeout_s,
            max_batch=self.max_batch, progress=self.progress,
            on_record=store.record if store is not None else None,
        )
        return scheduler.run(chunks)

    # -- internals --------------------------------------------------------
    def _stored_plan(self, store: ChunkStore, index: int, circuit: QuantumCircuit, shots: int,
                     plan: ChunkPlan, plan_options: Mapping[str, Any]) -> ChunkPlan:
        """The plan the store asks for (it may extend chunks it already holds)."""
        def extend(previous: Sequence[int]) -> list[int]:
            return extend_plan(previous, circuit, shots, self.chunk_shots, plan_options)

        parts = [int(p) for p in store.plan(index, shots, list(plan.shots), extend)]
        if parts == list(plan.shots):
            return plan
        if sum(parts) != shots or min(parts, default=0) < 1:
            raise QcosError(f"chunk store {type(store).__name__}: plan {parts} does not split {shots} shots")
        return dataclasses.replace(plan, shots=tuple(parts), reason=f"{plan.reason}; extends {len(parts) - 1} earlier chunk(s)")

    def _eligible_handles(self, circuits: list[QuantumCircuit]) -> list[NodeHandle]:
        if self.mode is QVMMode.LOCAL:  # one in-process local_cpu node, whatever the cluster
            if self._local is None:
                self._local = ClusterBuilder().add("local_cpu", id_prefix="qvm-local", processes=False).build()
            return self._local.handles
        online = [h for h in self.registry.handles if h.spec.online]
        if not online:
            reasons = "; ".join(f"{s.node_id}: {s.offline_reason}" for s in self.registry.nodes) or "the cluster is empty"
            raise NoEligibleNodeError(f"no node is online ({reasons}); check the providers' health or add local_cpu")
        widest = max(h.spec.max_qubits for h in online)
        for circuit in circuits:
            if circuit.num_qubits > widest:
                available = sorted({f"{h.spec.node_id}={h.spec.max_qubits}" for h in online})
                raise NoEligibleNodeError(
                    f"circuit {circuit.name!r} needs {circuit.num_qubits} qubits but the online nodes take at most "
                    f"{widest} (max_qubits: {', '.join(available)}); add a node with max_qubits >= {circuit.num_qubits}"
                )
        return online

    def _check_options_reach(self, handles: Sequence[NodeHandle]) -> None:
        """Run options only act in the built-in Aer executor: refuse nodes that would ignore them."""
        if not self.options or self.mode is QVMMode.LOCAL:
            return
        foreign = sorted(f"{h.spec.node_id} ({h.provider_name})" for h in handles if not h.provider.uses_builtin_executor())
        if foreign:
            raise QcosError(
                f"DistributedQVM options {sorted(self.options)} apply only on nodes that use the built-in Aer executor, "
                f"but {', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''} run chunks themselves and would ignore "
                "them; give those settings to their provider (e.g. aer_options=) or leave those nodes out"
            )

    def _noise_run_options(self, handles: Sequence[NodeHandle]) -> dict[str, Any]:
        """Every chunk's run options: the canonical noise spec (none when ideal), which nodes
        with their own executor are warned they must apply."""
        if self.noise is None:
            return {}
        self._warn_foreign_executors(handles)
        return {RUN_OPTION_KEY: self.noise.to_dict()}

    def _warn_foreign_executors(self, handles: Sequence[NodeHandle]) -> None:
        for handle in handles:
            provider = handle.provider
            if not (provider.uses_builtin_executor() or getattr(provider, "HONOURS_NOISE", False)):
                logger.warning(
                    "node %s runs chunks with its own executor (%s); it receives the noise spec in "
                    "ShotTask.run_options[%r] and must apply it, or its counts are ideal",
                    handle.spec.node_id, type(provider).__name__, RUN_OPTION_KEY,
                )

    def _run_on_node(self, handle: NodeHandle, tasks: Sequence[ShotTask]) -> list[TaskOutcome]:
        """The scheduler's runner: the provider's template method, with this run's Aer executor.

        A provider that runs chunks itself gets sweep points bound (the Aer executor finds
        them by circuit index and runs them as parametric groups)."""
        provider, executor = handle.provider, self._executor
        if not provider.uses_builtin_executor() and executor.has_points:
            tasks = [executor.bound(task) for task in tasks]
        return provider.run_tasks(tasks, handle.spec, executor)

    def _assemble(self, circuits: Sequence[QuantumCircuit], keys: Sequence[str], plans: Sequence[ChunkPlan],
                  shots: int, run_seed: int, records: Mapping[tuple[int, int], ChunkRecord],
                  wall: float) -> list[QVMResult]:
        by_circuit: dict[int, list[ChunkRecord]] = {}
        for (circuit_index, _), record in records.items():
            by_circuit.setdefault(circuit_index, []).append(record)
        noise = self.noise.to_dict() if self.noise is not None else None
        return [merged_result(circuit.name, circuit.num_qubits, by_circuit.get(index, []), seed=run_seed,
                              transpile_s=self._executor.transpile_s.get(index, 0.0), wall_s=wall,
                              metadata={"mode": self.mode.value, "key": keys[index], "requested_shots": shots,
                                        "chunk_shots": self.chunk_shots, "chunking": plans[index].describe(),
                                        "num_clbits": circuit.num_clbits, "noise": noise})
                for index, circuit in enumerate(circuits)]

    def __repr__(self) -> str:
        return f"<DistributedQVM {self.mode.value} {len(self.registry)} nodes shots={self.shots} seed={self.seed}>"


def _raise_failed(outcome: SchedulerOutcome, names: Sequence[str], total: int, batch: BatchResult) -> None:
    """Raise DispatchError (with the partial batch) when chunks could not run anywhere."""
    if not outcome.failed:
        return
    lines = [f"  {c.task.key} ({names[c.task.circuit_index]}): {'; '.join(c.errors[-3:]) or 'no node could take it'}"
             for c in outcome.failed[:10]]
    more = f"\n  ... and {len(outcome.failed) - 10} more" if len(outcome.failed) > 10 else ""
    raise DispatchError(
        f"{len(outcome.failed)} of {total} chunk(s) could not run on any node:\n" + "\n".join(lines) + more
        + "\nCheck the nodes' logs and health (registry.status_report()); add a fallback node such as local_cpu.",
        partial=batch,
    )


def _as_sweep(sweep: Sweep, index: int) -> Sweep:
    if not isinstance(sweep, Sweep):
        raise QcosError(f"sweep #{index}: expected a qcos.qvm.sweeps.Sweep, got {type(sweep).__name__}")
    problem = admission_problem(sweep.circuit, parametric=True)
    if problem is not None:
        raise QcosError(f"sweep #{index} ({sweep.circuit.name!r}): {problem}")
    return Sweep.of(sweep.circuit, sweep.values, sweep.key)


def _as_circuit(circuit: QuantumCircuit | str, index: int) -> QuantumCircuit:
    if isinstance(circuit, str):
        circuit = load_qasm(circuit, source=f"circuit #{index}")
    if not isinstance(circuit, QuantumCircuit):
        raise QcosError(f"circuit #{index}: expected a QuantumCircuit or OpenQASM text, got {type(circuit).__name__}")
    problem = admission_problem(circuit)
    if problem is not None:
        raise QcosError(f"circuit #{index} ({circuit.name!r}): {problem}")
    return circuit


def _positive_int(name: str, value: object) -> int:
    return require_int(name, value, error=QcosError)
