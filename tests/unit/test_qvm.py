"""DistributedQVM: exact totals, reproducibility across cluster shapes, failover, timeouts."""

from __future__ import annotations

import threading

import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.random import random_circuit
from sample_circuits import ghz

from qcos import (
    ClusterBuilder,
    DistributedQVM,
    NodeProvider,
    NodeProviderRegistry,
    NodeType,
    QPUNodeSpec,
    QVMMode,
)
from qcos.circuits.seeds import circuit_fingerprint, derive_seed, split_shots
from qcos.exceptions import DispatchError, NoEligibleNodeError, QcosError


def randoms(count: int = 6, width: int = 4) -> list[QuantumCircuit]:
    return [random_circuit(width, 4, measure=True, seed=100 + i) for i in range(count)]


class AlwaysFails(NodeProvider):
    DISPLAY_NAME = "Always fails"
    calls = 0

    def build_nodes(self, n_nodes: int = 1, max_qubits: int = 20):
        return [QPUNodeSpec(node_id=f"broken-{i}", node_type=NodeType.CUSTOM, max_qubits=max_qubits)
                for i in range(n_nodes)]

    def execute(self, circuit, shots, node_spec):
        type(self).calls += 1
        raise RuntimeError("hardware on fire")


class Hangs(NodeProvider):
    DISPLAY_NAME = "Hangs"
    release = threading.Event()
    returned = threading.Event()

    def build_nodes(self, **kwargs):
        return [QPUNodeSpec(node_id="hangs-0", node_type=NodeType.CUSTOM, max_qubits=20,
                            options={"chunk_timeout_s": 0.3})]

    def execute(self, circuit, shots, node_spec):
        self.release.wait(300)
        self.returned.set()
        raise RuntimeError("released")


def test_split_shots_is_exact_and_independent_of_anything_else():
    assert split_shots(1024, 1024) == [1024]
    assert split_shots(1025, 1024) == [513, 512]
    assert split_shots(10, 3) == [3, 3, 2, 2]
    assert sum(split_shots(99_999, 777)) == 99_999


def test_fingerprint_ignores_names_but_not_structure():
    a, b = ghz(3), ghz(3)
    b.name = "other"
    c = ghz(3)
    c.x(0)
    assert circuit_fingerprint(a) == circuit_fingerprint(b) != circuit_fingerprint(c)
    assert derive_seed(1, "k", 0) == derive_seed(1, "k", 0) != derive_seed(1, "k", 1)


@pytest.mark.parametrize("chunk_shots", [1024, 300])
def test_same_seed_same_counts_on_1_3_5_nodes(chunk_shots):
    circuits = randoms() + [ghz(5)]
    seen = []
    for n_nodes in (1, 3, 5):
        with ClusterBuilder().add("local_cpu", n_nodes=n_nodes).build() as registry:
            batch = DistributedQVM(registry, shots=3000, seed=42, chunk_shots=chunk_shots).run_batch(circuits)
        seen.append([r.counts for r in batch])
        assert all(sum(r.counts.values()) == 3000 for r in batch)
    assert seen[0] == seen[1] == seen[2]
    # LOCAL mode is the in-process reference: same seeds, same counts
    with ClusterBuilder().add("mock").build() as registry:
        local = DistributedQVM(registry, mode=QVMMode.LOCAL, shots=3000, seed=42, chunk_shots=chunk_shots).run_batch(circuits)
    assert [r.counts for r in local] == seen[0]


def test_counts_do_not_depend_on_batch_composition_or_completion_order():
    circuits = randoms(4)
    with ClusterBuilder().add("local_cpu", n_nodes=2).build() as registry:
        qvm = DistributedQVM(registry, shots=500, seed=9, chunk_shots=100)
        together = qvm.run_batch(circuits)
        alone = qvm.run(circuits[2])
        reversed_batch = qvm.run_batch(list(reversed(circuits)))
    assert alone.counts == together[2].counts
    assert [r.counts for r in reversed_batch] == [r.counts for r in reversed(together)]


def test_different_seeds_differ_and_missing_seed_is_recorded():
    with ClusterBuilder().add("local_cpu").build() as registry:
        qvm = DistributedQVM(registry, shots=2000)
        first, second = qvm.run(randoms(1)[0]), qvm.run(randoms(1)[0])
        assert first.seed != second.seed
        again = qvm.run(randoms(1)[0], seed=first.seed)
    assert again.counts == first.counts


def test_failing_provider_mixed_with_local_cpu_completes_with_exact_totals(caplog):
    AlwaysFails.calls = 0
    NodeProviderRegistry.register("always_fails", AlwaysFails)
    with ClusterBuilder().add("always_fails", n_nodes=2).add("local_cpu").build() as registry:
        with caplog.at_level("WARNING"):
            batch = DistributedQVM(registry, shots=4096, seed=1, chunk_shots=512).run_batch(randoms(5))
    assert all(sum(r.counts.values()) == 4096 for r in batch)
    assert {n for r in batch for n in r.node_ids} == {"local-cpu-0"}
    assert AlwaysFails.calls >= 1
    assert "hardware on fire" in caplog.text and "re-queued" in caplog.text
    # the failures are visible per node
    assert batch.per_node["broken-0"]["failures"] + batch.per_node["broken-1"]["failures"] >= 1


def test_only_failing_nodes_is_a_clear_error():
    NodeProviderRegistry.register("always_fails", AlwaysFails)
    with ClusterBuilder().add("always_fails", n_nodes=2).build() as registry:
        with pytest.raises(DispatchError) as info:
            DistributedQVM(registry, shots=100, seed=1).run(ghz(3))
    message = str(info.value)
    assert "could not run on any node" in message and "hardware on fire" in message
    assert "broken-0" in message and "broken-1" in message


def test_timed_out_node_has_its_chunks_rerun_elsewhere():
    NodeProviderRegistry.register("hangs", Hangs)
    Hangs.release.clear()
    Hangs.returned.clear()
    try:
        with ClusterBuilder().add("hangs").add("local_cpu").build() as registry:
            result = DistributedQVM(registry, shots=800, seed=3, chunk_shots=200).run(ghz(4))
            assert not Hangs.returned.is_set(), "the run waited for the hung node instead of timing it out"
        assert sum(result.counts.values()) == 800
        assert result.node_ids == ["local-cpu-0"]
    finally:
        Hangs.release.set()


def test_too_wide_circuit_names_width_and_available_max_qubits():
    with ClusterBuilder().add("local_cpu", max_qubits=4).add("mock", max_qubits=3).build() as registry:
        with pytest.raises(NoEligibleNodeError) as info:
            DistributedQVM(registry, shots=10).run(ghz(6))
    message = str(info.value)
    assert "needs 6 qubits" in message and "local-cpu-0=4" in message and "mock-0=3" in message


def test_mixed_widths_go_only_to_nodes_that_fit():
    with ClusterBuilder().add("local_cpu", max_qubits=3).add("mock", max_qubits=8, id_prefix="wide").build() as registry:
        batch = DistributedQVM(registry, shots=256, seed=2, chunk_shots=64).run_batch([ghz(3), ghz(7)])
    assert set(batch[1].node_ids) == {"wide-0"}
    assert sum(batch[1].counts.values()) == 256


def test_unmeasured_and_parameterised_circuits_are_rejected_with_the_fix():
    unmeasured = QuantumCircuit(2, name="bell")
    unmeasured.h(0)
    with ClusterBuilder().add("local_cpu").build() as registry:
        qvm = DistributedQVM(registry, shots=10)
        with pytest.raises(QcosError, match=r"measures nothing: add measurements"):
            qvm.run(unmeasured)
        from qiskit.circuit import Parameter

        parameterised = QuantumCircuit(1, 1)
        parameterised.rx(Parameter("theta"), 0)
        parameterised.measure(0, 0)
        with pytest.raises(QcosError, match="unbound parameters"):
            qvm.run(parameterised)
        with pytest.raises(QcosError, match="shots must be a positive integer"):
            qvm.run(ghz(2), shots=0)


def test_qasm_text_and_result_breakdown():
    qasm = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n'
    with ClusterBuilder().add("local_cpu", n_nodes=2).build() as registry:
        result = DistributedQVM(registry, shots=1000, seed=11, chunk_shots=250).run(qasm)
    assert set(result.counts) <= {"00", "11"} and sum(result.counts.values()) == 1000
    assert [c.chunk_index for c in result.chunks] == [0, 1, 2, 3]
    assert sum(node["shots"] for node in result.per_node.values()) == 1000
    data = result.to_dict()
    assert data["timings"]["wall_s"] > 0 and len(data["chunks"]) == 4


def test_unsupported_gates_are_transpiled_once_per_target():
    from qiskit.circuit.library import QFTGate

    circuit = QuantumCircuit(4, 4)
    circuit.append(QFTGate(4), range(4))
    circuit.measure(range(4), range(4))
    with ClusterBuilder().add("local_cpu").build() as registry:
        result = DistributedQVM(registry, shots=4096, seed=1, chunk_shots=512).run(circuit)
    assert sum(result.counts.values()) == 4096 and result.timings["transpile_s"] > 0
    assert len(result.chunks) == 8


def test_local_nodes_in_worker_processes_match_in_thread_runs():
    circuits = randoms(8)
    with ClusterBuilder().add("local_cpu", n_nodes=2, processes=True).build() as registry:
        provider = registry.provider_for("local-cpu-0")
        assert provider.worker_pool() is not None and provider.worker_pool().size == 2
        in_processes = DistributedQVM(registry, shots=700, seed=5, chunk_shots=200).run_batch(circuits)
    with ClusterBuilder().add("local_cpu", n_nodes=2, processes=False).build() as registry:
        assert registry.provider_for("local-cpu-0").worker_pool() is None
        in_threads = DistributedQVM(registry, shots=700, seed=5, chunk_shots=200).run_batch(circuits)
    assert [r.counts for r in in_processes] == [r.counts for r in in_threads]


def test_run_batch_from_two_threads_on_one_instance_keeps_each_batch_its_own():
    """Concurrent run_batch calls on one DistributedQVM take turns: no circuits are mixed."""
    from concurrent.futures import ThreadPoolExecutor

    from sample_circuits import basis

    with ClusterBuilder().add("local_cpu", n_nodes=2, processes=False).build() as registry:
        qvm = DistributedQVM(registry, shots=64, seed=3, chunk_shots=16)
        batches = [[basis(i, 6) for i in range(start, start + 8)] for start in (0, 20, 40)]
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(qvm.run_batch, batches))
    for batch, result in zip(batches, results, strict=True):
        expected = [{format(int(c.name.split("-")[1]), "06b"): 64} for c in batch]
        assert [r.counts for r in result] == expected
