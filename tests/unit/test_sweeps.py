"""Parametric chunks: sweep points grouped into one Aer call, with counts that do not depend on the grouping."""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest
from helpers import wait_for
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.primitives import StatevectorSampler

from qcos import (
    ClusterBuilder,
    DistributedQVM,
    NodeProvider,
    NodeProviderRegistry,
    NodeType,
    QPUNodeSpec,
)
from qcos.exceptions import QcosError
from qcos.qvm.sweeps import Sweep, group_points
from qcos.workers import CIRCUIT, OK, Chunk, WorkerConfig, WorkerPool, qpy_bytes
from qcos.workers import simulator as aer
from qcos.workers.jobs import ParameterTable
from qcos.workers.parametric import (
    AER_SEED_STRIDE,
    bind_row,
    one_run,
    parameter_table,
    point_seed,
    run_points,
)


def ansatz(width: int = 3, name: str = "ansatz") -> QuantumCircuit:
    """Two parameters, one of them inside an expression, so every outcome has weight."""
    theta = ParameterVector("theta", 2)
    circuit = QuantumCircuit(width, name=name)
    circuit.h(range(width))
    for q in range(width):
        circuit.ry(theta[0] * (q + 1), q)
    for q in range(width - 1):
        circuit.cx(q, q + 1)
    circuit.rx(theta[1] + theta[0] / 2, range(width))
    circuit.measure_all()
    return circuit


def points(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, np.pi, (count, 2))


def tvd(counts: dict[str, int], reference: dict[str, int]) -> float:
    total, ref_total = sum(counts.values()), sum(reference.values())
    return 0.5 * sum(abs(counts.get(k, 0) / total - reference.get(k, 0) / ref_total) for k in set(counts) | set(reference))


@pytest.fixture(scope="module")
def one_node():  # in this process: groups run here, no worker
    with ClusterBuilder().add("local_cpu", n_nodes=1).build() as registry:
        yield registry


@pytest.fixture(scope="module")
def three_nodes():  # one warm worker process per node
    with ClusterBuilder().add("local_cpu", n_nodes=3).build() as registry:
        yield registry


# -- the Aer call --------------------------------------------------------
def test_aer_seeds_the_experiments_of_one_run_by_its_stride():
    """The rule everything rests on (run_points also checks it on every run)."""
    circuit, values = ansatz(), points(4)
    table = parameter_table(circuit, values)
    grouped = run_points(circuit, table, 300, 1234)
    alone = [aer.run_counts(bind_row(circuit, table, i), 300, 1234 + AER_SEED_STRIDE * i) for i in range(4)]
    assert grouped == alone
    assert all(point.sim_s is not None for point in grouped)


def test_a_point_gets_the_same_counts_in_any_group():
    circuit, values = ansatz(), points(9)
    base = point_seed(77, 0)
    whole = run_points(circuit, parameter_table(circuit, values), 500, base)
    pieces = []
    for start, stop in [(0, 2), (2, 3), (3, 9)]:
        pieces += run_points(circuit, parameter_table(circuit, values[start:stop]), 500, point_seed(base, start))
    assert whole == pieces


def test_point_seeds_stay_31_bit_and_groups_split_where_they_wrap():
    near = 0x7FFFFFFF - AER_SEED_STRIDE  # point 1 is the last below 2**31
    assert point_seed(near, 1) == 0x7FFFFFFF and point_seed(near, 2) < near
    assert one_run(near, 2) and not one_run(near, 3) and one_run(None, 10**6)
    with pytest.raises(ValueError, match="2\\*\\*31"):
        run_points(ansatz(), parameter_table(ansatz(), points(3)), 10, near)


def test_a_circuit_without_parameters_runs_once_per_point():
    bell = QuantumCircuit(2, name="bell")
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    counts = run_points(bell, ParameterTable((), ((),) * 3), 400, 9)
    assert counts == [aer.run_counts(bell, 400, point_seed(9, i)) for i in range(3)]


def test_counts_are_keyed_like_qiskits_get_counts_with_several_registers():
    from qiskit import ClassicalRegister, QuantumRegister
    from qiskit_aer import AerSimulator

    from qcos.workers.parametric import _counts

    angle = Parameter("angle")
    qubits, a, b, c = QuantumRegister(4), ClassicalRegister(2, "a"), ClassicalRegister(1, "b"), ClassicalRegister(3, "c")
    circuit = QuantumCircuit(qubits, a, b, c)
    circuit.h(qubits)
    circuit.rx(angle, 0)
    for qubit, clbit in [(0, a[0]), (1, b[0]), (2, a[1]), (3, c[2])]:
        circuit.measure(qubits[qubit], clbit)
    result = AerSimulator().run(circuit, parameter_binds=[{angle: [0.1, 2.0]}], shots=300, seed_simulator=1).result()
    assert [_counts(result, i) for i in range(2)] == [result.get_counts(i) for i in range(2)]
    assert " " in next(iter(_counts(result, 0)))


def test_distribution_matches_the_statevector_sampler():
    circuit, values = ansatz(), points(3, seed=4)
    counts = run_points(circuit, parameter_table(circuit, values), 8000, 5)
    reference = StatevectorSampler(seed=1).run([(circuit, values)], shots=8000).result()[0].data.meas
    for i, point in enumerate(counts):
        assert sum(point.values()) == 8000
        assert tvd(point, reference[i].get_counts()) < 0.03


# -- the worker runtime --------------------------------------------------
def test_worker_runs_a_parametric_chunk_and_returns_counts_per_point():
    circuit, values = ansatz(), points(6)
    payload = qpy_bytes(circuit)
    with WorkerPool(WorkerConfig(), 1) as pool:
        first, second, plain, wrong = pool.run([
            Chunk(payload, 300, point_seed(5, 0), {}, parameter_table(circuit, values[:4])),
            Chunk(payload, 300, point_seed(5, 4), {}, parameter_table(circuit, values[4:])),
            Chunk(qpy_bytes(bind_row(circuit, parameter_table(circuit, values), 1)), 300, point_seed(5, 1)),
            Chunk(payload, 300, 5, {}, ParameterTable(("phi",), ((1.0,),))),
        ])
    assert first.code == second.code == plain.code == OK
    assert len(first.points) == 4 and len(second.points) == 2 and first.counts is None
    alone = [aer.run_counts(bind_row(circuit, parameter_table(circuit, values), i), 300, point_seed(5, i))
             for i in range(6)]
    assert first.points + second.points == alone
    assert plain.counts == alone[1]
    assert wrong.code == CIRCUIT and "phi" in wrong.message


def test_a_parameter_table_is_checked():
    with pytest.raises(ValueError, match="at least one point"):
        ParameterTable(("a",), ())
    with pytest.raises(ValueError, match="row 1 has 2 values for 1"):
        ParameterTable(("a",), ((1.0,), (1.0, 2.0)))


# -- DistributedQVM.run_sweeps --------------------------------------------
def test_sweep_points_equal_their_bound_circuits_in_distribution(one_node):
    circuit, values = ansatz(), points(5, seed=2)
    qvm = DistributedQVM(one_node, seed=3, progress=False)
    swept = qvm.run_sweeps([Sweep.of(circuit, values)], 8000)
    bound = qvm.run_batch([circuit.assign_parameters(row) for row in values], 8000, 3)
    assert [r.name for r in swept] == [f"ansatz[{i}]" for i in range(5)]
    for point, circuit_result in zip(swept, bound, strict=True):
        assert point.shots == sum(point.counts.values()) == 8000
        assert tvd(point.counts, circuit_result.counts) < 0.04
    assert swept.per_node["local-cpu-0"]["chunks"] == 5


def test_seeded_sweeps_are_identical_across_cluster_shapes_and_groupings(one_node, three_nodes):
    sweeps = [Sweep.of(ansatz(), points(16)), Sweep.of(ansatz(4, "wide"), points(5, seed=1), key="wide")]
    runs = {
        "1 node": DistributedQVM(one_node, seed=21, progress=False),
        "3 nodes": DistributedQVM(three_nodes, seed=21, progress=False),
        "3 nodes, groups of <= 2": DistributedQVM(three_nodes, seed=21, max_batch=2, progress=False),
        "in-process": DistributedQVM(three_nodes, mode="local", seed=21, progress=False),
        "split shots": DistributedQVM(one_node, seed=21, chunk_shots=700, progress=False),
    }
    seen = {name: [r.counts for r in qvm.run_sweeps(sweeps, 1500)] for name, qvm in runs.items()}
    assert seen["1 node"] == seen["3 nodes"] == seen["3 nodes, groups of <= 2"] == seen["in-process"]
    assert all(sum(c.values()) == 1500 for c in seen["split shots"])
    assert seen["split shots"] == [r.counts for r in runs["split shots"].run_sweeps(sweeps, 1500)]
    other = DistributedQVM(one_node, seed=22, progress=False).run_sweeps(sweeps, 1500)
    assert [r.counts for r in other] != seen["1 node"]


def test_noisy_sweeps_are_identical_across_cluster_shapes(one_node, three_nodes):
    noise = {"depolarizing": {"p1": 0.01, "p2": 0.05}, "readout": 0.02}
    sweep = Sweep.of(ansatz(), points(6))
    one = DistributedQVM(one_node, seed=4, noise=noise, progress=False).run_sweeps([sweep], 600)
    three = DistributedQVM(three_nodes, seed=4, noise=noise, progress=False).run_sweeps([sweep], 600)
    assert [r.counts for r in one] == [r.counts for r in three]
    assert all(sum(r.counts.values()) == 600 for r in one)
    split = DistributedQVM(three_nodes, seed=4, noise=noise, chunk_shots=256, progress=False).run_sweeps([sweep], 600)
    assert [len(r.chunks) for r in split] == [3] * 6 and all(sum(r.counts.values()) == 600 for r in split)


def test_group_points_keeps_runs_of_consecutive_points_with_stepping_seeds():
    from qcos.providers.base import ShotTask
    from qcos.qvm.sweeps import PointRef

    circuit = ansatz()
    refs = {i: PointRef(0, i) for i in range(6)} | {6: PointRef(1, 0)}
    tasks = [ShotTask(circuit, 10, point_seed(100, i), i, 0) for i in range(6)] + [ShotTask(circuit, 10, 5, 6, 0)]
    assert group_points(tasks, [4, 0, 1, 2, 6, 5], refs) == [[0, 1, 2], [4, 5], [6]]
    assert group_points(tasks, [0, 1, 2], refs, limit=2) == [[0, 1], [2]]


def test_a_bad_sweep_is_a_clear_error(one_node):
    qvm = DistributedQVM(one_node, seed=1, progress=False)
    with pytest.raises(QcosError, match=r"values must be \(points, 2\)"):
        qvm.run_sweeps([Sweep.of(ansatz(), np.zeros((3, 3)))])
    with pytest.raises(QcosError, match="finite"):
        Sweep.of(ansatz(), np.full((2, 2), np.nan))
    unmeasured = QuantumCircuit(1)
    unmeasured.rx(Parameter("a"), 0)
    with pytest.raises(QcosError, match="measures nothing"):
        qvm.run_sweeps([Sweep.of(unmeasured, [[0.1]])])
    with pytest.raises(QcosError, match="no sweeps"):
        qvm.run_sweeps([])
    with pytest.raises(QcosError, match="keys must be unique"):
        qvm.run_sweeps([Sweep.of(ansatz(), points(2), key="a"), Sweep.of(ansatz(), points(3), key="a")])
    with pytest.raises(QcosError, match="expected a qcos.qvm.sweeps.Sweep"):
        qvm.run_sweeps([ansatz()])


class BoundOnly(NodeProvider):
    """Runs chunks itself with Aer (seeded), refusing any circuit that still has parameters."""

    DISPLAY_NAME = "Bound circuits only"
    seen: list[int] = []

    def build_nodes(self, n_nodes: int = 1):
        return [QPUNodeSpec(node_id=f"bound-{i}", node_type=NodeType.CUSTOM, max_qubits=10) for i in range(n_nodes)]

    def execute(self, circuit, shots, node_spec, *, seed=None):
        if circuit.parameters:
            raise RuntimeError(f"got unbound parameters {sorted(map(str, circuit.parameters))}")
        type(self).seen.append(circuit.num_parameters)
        return dict(aer.run_counts(circuit, shots, seed))


def test_providers_that_run_chunks_themselves_get_the_points_bound(one_node):
    NodeProviderRegistry.register("bound_only", BoundOnly)
    BoundOnly.seen = []
    sweep = Sweep.of(ansatz(), points(8))
    with ClusterBuilder().add("bound_only", n_nodes=2).build() as registry:
        theirs = DistributedQVM(registry, seed=8, progress=False).run_sweeps([sweep], 400)
    ours = DistributedQVM(one_node, seed=8, progress=False).run_sweeps([sweep], 400)
    assert len(BoundOnly.seen) == 8
    assert [r.counts for r in theirs] == [r.counts for r in ours]  # same seeds, same counts


# -- a worker killed in the middle of a group ----------------------------
def test_a_worker_killed_mid_group_gives_correct_totals_and_the_same_counts():
    sweep = Sweep.of(ansatz(14, "heavy"), points(32, seed=9))
    with ClusterBuilder().add("local_cpu", n_nodes=1, processes=True).build() as registry:
        qvm = DistributedQVM(registry, seed=31, progress=False)
        undisturbed = [r.counts for r in qvm.run_sweeps([sweep], 300)]
        pool = registry.handles[0].provider.worker_pool()
        assert pool is not None
        result: dict[str, object] = {}
        runner = threading.Thread(target=lambda: result.update(batch=qvm.run_sweeps([sweep], 300)), daemon=True)
        before = pool.stats()["chunks"]
        runner.start()
        wait_for(lambda: not pool.stats()["idle"], 120.0, "the worker to hold a group", interval_s=0.005)
        killed = pool.pids()
        assert killed and pool.stats()["chunks"] == before, "the first group finished before the kill"
        os.kill(killed[0], signal.SIGKILL)
        runner.join(600)
        assert not runner.is_alive()
        batch = result["batch"]
        assert pool.stats()["crashes"] >= 1  # the kill landed on a running group, which was retried
    assert [sum(r.counts.values()) for r in batch] == [300] * 32
    assert [r.counts for r in batch] == undisturbed
