"""Cost-aware chunk plans: one simulation for sampled circuits, shared chunks for per-shot ones."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.random import random_circuit
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel, ReadoutError, depolarizing_error
from sample_circuits import ghz

from qcos import ClusterBuilder, DistributedQVM
from qcos.circuits.seeds import split_shots
from qcos.exceptions import QcosError
from qcos.workers import simulator
from qcos.workers.chunking import (
    METHOD_CHUNK_SHOTS,
    PER_SHOT_MAX_CHUNK_SHOTS,
    SAMPLED_MAX_CHUNK_SHOTS,
    ShotCost,
    chunk_plan,
    extend_plan,
    parse_chunk_shots,
    plan_chunks,
)

SHOTS = 65_536


def gate_noise(p2: float = 0.05) -> NoiseModel:
    model = NoiseModel()
    model.add_all_qubit_quantum_error(depolarizing_error(p2 / 10, 1), ["h", "x", "sx", "rz"])
    model.add_all_qubit_quantum_error(depolarizing_error(p2, 2), ["cx"])
    return model


def readout_noise() -> NoiseModel:
    model = NoiseModel()
    model.add_all_qubit_readout_error(ReadoutError([[0.97, 0.03], [0.03, 0.97]]))
    return model


def wide_ideal() -> QuantumCircuit:
    circuit = random_circuit(16, 4, max_operands=2, measure=True, seed=16)
    circuit.name = "ideal16"
    return circuit


def mid_measure() -> QuantumCircuit:
    circuit = QuantumCircuit(3, 3)
    circuit.h(0)
    circuit.measure(0, 0)
    circuit.cx(0, 1)
    circuit.measure([0, 1, 2], [0, 1, 2])
    return circuit


def with_reset() -> QuantumCircuit:
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.reset(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    return circuit


def with_if() -> QuantumCircuit:
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.measure(0, 0)
    with circuit.if_test((circuit.clbits[0], 1)):
        circuit.x(1)
    circuit.measure(1, 1)
    return circuit


def gate_on_other_qubit_after_measure() -> QuantumCircuit:
    circuit = QuantumCircuit(3, 3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    circuit.h(2)
    circuit.measure(2, 2)
    return circuit


def initialize_first() -> QuantumCircuit:
    circuit = QuantumCircuit(2, 2)
    circuit.initialize([0, 1, 0, 0], [0, 1])
    circuit.h(1)
    circuit.measure([0, 1], [0, 1])
    return circuit


# -- the rule -----------------------------------------------------------------
def test_ideal_terminal_circuit_is_one_chunk_up_to_the_cap():
    plan = chunk_plan(wide_ideal(), SHOTS)
    assert plan.shots == (SHOTS,) and plan.cost is ShotCost.SAMPLED
    big = plan_chunks(ghz(3), 3 * SAMPLED_MAX_CHUNK_SHOTS + 5)
    assert big == [SAMPLED_MAX_CHUNK_SHOTS] * 3 + [5]


def test_explicit_chunk_shots_keep_the_near_equal_split():
    assert plan_chunks(wide_ideal(), SHOTS, 1024) == split_shots(SHOTS, 1024)
    assert plan_chunks(ghz(3), 1025, 1024, {"noise_model": gate_noise()}) == [513, 512]
    assert chunk_plan(ghz(3), 10, 3).cost is ShotCost.EXPLICIT


@pytest.mark.parametrize("options, why", [
    ({"noise_model": gate_noise()}, "noise model"),
    ({"noise": gate_noise()}, "noise model"),
    ({"noise": {"depolarizing": {"p1": 0.001, "p2": 0.01}, "readout": 0.02}}, "depolarizing"),
    ({"noise": {"backend": "fake_sherbrooke"}}, "backend"),
])
def test_noise_with_gate_errors_splits(options, why):
    plan = chunk_plan(ghz(3), SHOTS, "auto", options)
    assert plan.cost is ShotCost.PER_SHOT and why in plan.reason
    assert len(plan) > 1 and sum(plan.shots) == SHOTS
    assert max(plan.shots) <= PER_SHOT_MAX_CHUNK_SHOTS


@pytest.mark.parametrize("options", [
    {}, {"noise": None}, {"noise": {}}, {"noise": {"readout": 0.02}}, {"noise_model": readout_noise()},
    {"noise_model": gate_noise(), "method": "density_matrix"},
])
def test_ideal_readout_only_and_density_matrix_stay_one_simulation(options):
    assert plan_chunks(ghz(3), SHOTS, "auto", options) == [SHOTS]


@pytest.mark.parametrize("build, why", [
    (mid_measure, "mid-circuit"), (with_reset, "reset"), (with_if, "control flow"),
])
def test_circuits_whose_shots_are_trajectories_split(build, why):
    plan = chunk_plan(build(), SHOTS)
    assert plan.cost is ShotCost.PER_SHOT and why in plan.reason and len(plan) > 1


@pytest.mark.parametrize("method", sorted(METHOD_CHUNK_SHOTS))
def test_methods_that_sample_per_shot_split(method):
    plan = chunk_plan(ghz(3), SHOTS, "auto", {"method": method})
    assert plan.shots[0] == min(SHOTS, METHOD_CHUNK_SHOTS[method]) and sum(plan.shots) == SHOTS


def test_per_shot_chunks_shrink_with_the_work_of_a_shot():
    narrow = plan_chunks(ghz(3), SHOTS, "auto", {"noise_model": gate_noise()})
    wide = plan_chunks(random_circuit(16, 8, max_operands=2, measure=True, seed=1), SHOTS, "auto",
                       {"noise_model": gate_noise()})
    assert narrow[0] > wide[0] >= 16
    assert all(size & (size - 1) == 0 for size in (narrow[0], wide[0]))  # powers of two


def test_plans_of_more_shots_extend_plans_of_fewer():
    noisy = {"noise_model": gate_noise()}
    small, large = plan_chunks(ghz(3), 4 * 8192, "auto", noisy), plan_chunks(ghz(3), 6 * 8192, "auto", noisy)
    assert large[:len(small)] == small
    assert extend_plan([SHOTS], wide_ideal(), 2 * SHOTS) == [SHOTS, SHOTS]
    assert extend_plan([SHOTS], wide_ideal(), SHOTS) == [SHOTS]
    assert extend_plan([1000, 1000], ghz(3), 1500) == [1000, 500]


def test_bad_chunk_shots_are_one_line_errors():
    assert parse_chunk_shots("auto") == "auto" and parse_chunk_shots(" AUTO ") == "auto"
    for bad in (0, -3, "many", 2.5, True, None):
        with pytest.raises(QcosError, match="chunk_shots must be 'auto' or a positive integer"):
            parse_chunk_shots(bad)
    with pytest.raises(QcosError, match="chunk_shots must be 'auto'"):
        DistributedQVM(ClusterBuilder().add("mock").build(), chunk_shots="lots")


@pytest.mark.parametrize("build", [ghz, mid_measure, with_reset, with_if, gate_on_other_qubit_after_measure,
                                   initialize_first, wide_ideal])
def test_the_rule_agrees_with_aers_own_sampling_decision(build):
    """Aer reports whether it sampled all shots from one simulation; the plan must agree."""
    circuit = build() if build is not ghz else ghz(3)
    result = AerSimulator().run(simulator.prepare(circuit), shots=64, seed_simulator=1).result()
    sampled = result.results[0].metadata["measure_sampling"]
    assert (chunk_plan(circuit, SHOTS).cost is ShotCost.SAMPLED) == sampled


def test_noise_models_with_other_rates_get_their_own_simulator():
    assert simulator.options_key({"noise_model": gate_noise(0.01)}) != simulator.options_key({"noise_model": gate_noise(0.02)})
    assert simulator.options_key({"noise_model": gate_noise(0.01)}) == simulator.options_key({"noise_model": gate_noise(0.01)})


# -- DistributedQVM -------------------------------------------------------------
def test_ideal_16_qubit_circuit_at_65536_shots_is_one_simulation(monkeypatch):
    calls = []
    real = simulator.run_counts

    def counting(circuit, shots, *args, **kwargs):
        calls.append(shots)
        return real(circuit, shots, *args, **kwargs)

    monkeypatch.setattr(simulator, "run_counts", counting)
    with ClusterBuilder().add("local_cpu", n_nodes=1).build() as registry:
        result = DistributedQVM(registry, shots=SHOTS, seed=7).run(wide_ideal())
    assert calls == [SHOTS]  # one Aer run for all the shots
    assert len(result.chunks) == 1 and result.shots == SHOTS
    assert result.metadata["chunking"]["cost"] == "sampled"
    for n_nodes in (2, 3):
        with ClusterBuilder().add("local_cpu", n_nodes=n_nodes).build() as registry:
            other = DistributedQVM(registry, shots=SHOTS, seed=7).run(wide_ideal())
        assert len(other.chunks) == 1
        assert other.counts == result.counts, f"{n_nodes} nodes changed the counts"


def test_noisy_circuit_is_split_and_spread_with_identical_counts_on_1_2_3_nodes():
    noisy = {"noise_model": gate_noise()}
    counts = {}
    for n_nodes in (1, 2, 3):
        with ClusterBuilder().add("local_cpu", n_nodes=n_nodes).build() as registry:
            batch = DistributedQVM(registry, shots=SHOTS, seed=5, options=noisy).run_batch([ghz(3)])
        result = batch[0]
        assert len(result.chunks) > 1 and result.shots == SHOTS
        assert result.metadata["chunking"]["cost"] == "per_shot"
        counts[n_nodes] = result.counts
        if n_nodes == 2:
            busy = {node: stats["chunks"] for node, stats in batch.per_node.items()}
            assert all(chunks > 0 for chunks in busy.values()), f"one node stayed idle: {busy}"
    assert counts[1] == counts[2] == counts[3]
    assert len(counts[1]) > 2, "the noise model was not applied"  # an ideal GHZ gives only 000 and 111


def test_run_options_are_refused_where_a_provider_would_ignore_them():
    registry = ClusterBuilder().add("mock", n_nodes=2).build()
    with pytest.raises(QcosError, match=r"options \['noise_model'\] apply only on nodes .*mock-0"):
        DistributedQVM(registry, options={"noise_model": gate_noise()}).run(ghz(3))
    with pytest.raises(QcosError, match="unknown Aer option"):
        DistributedQVM(registry, options={"noise_modle": gate_noise()})
