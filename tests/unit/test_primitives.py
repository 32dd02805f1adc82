"""Sampler, Estimator and QcosBackend against Qiskit's reference implementations, on real Aer nodes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile
from qiskit.circuit import Parameter
from qiskit.circuit.library import RGate
from qiskit.primitives import (
    BackendEstimatorV2,
    BackendSamplerV2,
    StatevectorEstimator,
    StatevectorSampler,
)
from qiskit.quantum_info import SparsePauliOp
from sample_circuits import basis, ghz

import qcos
from qcos import ClusterBuilder, DistributedQVM
from qcos.exceptions import PrimitiveError, QcosError
from qcos.primitives import Estimator, QcosBackend, Sampler
from qcos.workers import simulator

SHOTS = 8000


@pytest.fixture(scope="module")
def one_node():
    with ClusterBuilder().add("local_cpu", n_nodes=1).build() as registry:
        yield registry


@pytest.fixture(scope="module")
def three_nodes():
    with ClusterBuilder().add("local_cpu", n_nodes=3, processes=False).build() as registry:
        yield registry


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2, name="bell")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def rotation() -> QuantumCircuit:
    theta = Parameter("theta")
    circuit = QuantumCircuit(2, name="rotation")
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    circuit.rx(theta / 2, 1)
    circuit.measure_all()
    return circuit


def tvd(counts: dict[str, int], reference: dict[str, int]) -> float:
    total, ref_total = sum(counts.values()), sum(reference.values())
    keys = set(counts) | set(reference)
    return 0.5 * sum(abs(counts.get(k, 0) / total - reference.get(k, 0) / ref_total) for k in keys)


# -- Sampler -------------------------------------------------------------
def test_sampler_bell_matches_statevector_sampler(one_node):
    result = Sampler(one_node, seed=11).run([bell()], shots=SHOTS).result()
    reference = StatevectorSampler(seed=5).run([bell()], shots=SHOTS).result()
    counts = result[0].data.meas.get_counts()
    assert sum(counts.values()) == SHOTS and set(counts) <= {"00", "11"}
    assert tvd(counts, reference[0].data.meas.get_counts()) < 0.03
    assert result[0].data.meas.shape == () and result[0].data.meas.num_shots == SHOTS


def test_sampler_parameter_array_has_the_pub_shape(one_node):
    values = np.linspace(0, np.pi, 4)
    result = Sampler(one_node, seed=3).run([(rotation(), values)], shots=SHOTS).result()
    reference = StatevectorSampler(seed=3).run([(rotation(), values)], shots=SHOTS).result()
    meas = result[0].data.meas
    assert meas.shape == (4,) and meas.num_bits == 2 and meas.num_shots == SHOTS
    for i in range(4):
        assert tvd(meas.get_counts(i), reference[0].data.meas.get_counts(i)) < 0.03
    metadata = result[0].metadata
    assert metadata["shots"] == SHOTS and metadata["seed"] == 3 and metadata["nodes"] == ["local-cpu-0"]
    assert {"transpile_s", "bind_s", "execute_s"} <= set(metadata["timings"])
    assert result.metadata["seed"] == 3


def test_sampler_broadcasts_a_2d_parameter_array(one_node):
    a, b = Parameter("a"), Parameter("b")
    circuit = QuantumCircuit(1)
    circuit.rx(a, 0)
    circuit.rx(b, 0)
    circuit.measure_all()
    values = np.zeros((2, 3, 2))
    values[1, :, 0] = np.pi  # a = pi on the second row: outcome 1 for sure
    meas = Sampler(one_node, seed=1).run([(circuit, values, 100)]).result()[0].data.meas
    assert meas.shape == (2, 3)
    assert all(meas.get_counts((0, j)) == {"0": 100} for j in range(3))
    assert all(meas.get_counts((1, j)) == {"1": 100} for j in range(3))


def test_sampler_one_bitarray_per_register_matches_statevector_sampler(one_node):
    alpha, beta = ClassicalRegister(2, "alpha"), ClassicalRegister(3, "beta")
    circuit = QuantumCircuit(QuantumRegister(4), alpha, beta)
    circuit.x(0)
    circuit.x(3)
    circuit.h(1)
    circuit.measure([0, 1], alpha)
    circuit.measure([2, 3, 0], beta)
    ours = Sampler(one_node, seed=2).run([circuit], shots=400).result()[0]
    theirs = StatevectorSampler(seed=2).run([circuit], shots=400).result()[0]
    assert set(ours.data.keys()) == {"alpha", "beta"}
    assert ours.data.beta.get_counts() == theirs.data.beta.get_counts() == {"110": 400}
    assert set(ours.data.alpha.get_counts()) == set(theirs.data.alpha.get_counts()) == {"01", "11"}
    joined = ours.join_data().get_counts()  # shots stay paired across registers
    assert set(joined) == {"11001", "11011"} and sum(joined.values()) == 400


def test_seeded_sampler_is_identical_on_one_and_three_nodes(one_node, three_nodes):
    pubs = [bell(), (rotation(), np.linspace(0, 2, 4))]
    options = {"seed": 42, "chunk_shots": 500}
    small = Sampler(one_node, **options).run(pubs, shots=SHOTS).result()
    wide = Sampler(three_nodes, **options).run(pubs, shots=SHOTS).result()
    assert len(wide.metadata["nodes"]) >= 2, wide.metadata
    for ours, theirs in zip(small, wide, strict=True):
        assert np.array_equal(ours.data.meas.array, theirs.data.meas.array)
    again = Sampler(three_nodes, **options).run(pubs, shots=SHOTS).result()
    assert np.array_equal(again[1].data.meas.array, wide[1].data.meas.array)
    unseeded = Sampler(one_node, chunk_shots=500).run(pubs, shots=SHOTS).result()
    assert isinstance(unseeded.metadata["seed"], int)


def test_sampler_transpiles_a_template_once(one_node, monkeypatch):
    calls = {"node": 0}
    original = simulator.pass_manager

    def counting(*args, **kwargs):
        calls["node"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(simulator, "pass_manager", counting)
    circuit = rotation()
    circuit.rzz(Parameter("phi"), 0, 1)
    circuit.append(RGate(0.1, 0.2), [0])  # not an Aer gate: the template must be translated
    sampler = Sampler(one_node, seed=1)
    values = np.random.default_rng(0).uniform(0, 1, (100, 2))
    result = sampler.run([(circuit, values)], shots=64).result()
    assert result[0].data.meas.shape == (100,)
    assert calls["node"] == 0  # every bound point was Aer-native: nodes did not transpile again
    assert sampler._templates.get(circuit, 29) is sampler._templates.get(circuit, 29)


def two_parameters() -> QuantumCircuit:
    circuit = rotation()
    circuit.rz(Parameter("phi"), 1)
    return circuit


@pytest.mark.parametrize(
    ("pub", "message"),
    [
        ((two_parameters(), [[0.1, 0.2, 0.3]]), "inconsistent with last dimension"),
        ((rotation(),), "number of values \\(0\\) does not match the number of parameters \\(1\\)"),
        ((rotation(), [[0.1]], 0), "shots must be positive"),
        ((bell(), None, -3), "shots must be positive"),
    ],
)
def test_bad_pubs_raise_qiskits_value_error(one_node, pub, message):
    with pytest.raises(ValueError, match=message):
        Sampler(one_node).run([pub])
    with pytest.raises(ValueError, match="shots must be positive"):
        Sampler(one_node).run([bell()], shots=0)


def test_sampler_warns_and_returns_empty_data_without_registers(one_node):
    circuit = QuantumCircuit(1)
    circuit.h(0)
    with pytest.warns(UserWarning, match="no output classical registers"):
        job = Sampler(one_node).run([circuit])
    assert list(job.result()[0].data.keys()) == []


def test_sampler_options_are_checked(one_node):
    with pytest.raises(PrimitiveError, match="unknown option.*chunk_shot'.*valid options are: .*chunk_shots"):
        Sampler(one_node, chunk_shot=10)
    with pytest.raises(ValueError, match="default_shots"):
        Sampler(one_node, default_shots=0)
    qvm = DistributedQVM(one_node, chunk_shots=256)
    assert Sampler(qvm).qvm is qvm


# -- Estimator -----------------------------------------------------------
def test_estimator_2x2_broadcast_within_4_precisions_of_statevector_estimator(one_node):
    theta = Parameter("theta")
    circuit = QuantumCircuit(2)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    circuit.rx(0.4, 1)
    observables = [[SparsePauliOp.from_list([("ZZ", 1.0), ("XX", 0.5)])],
                   [SparsePauliOp.from_list([("YI", 0.7), ("IZ", -1.0), ("II", 0.25)])]]
    pub = (circuit, observables, [0.3, 1.7])
    precision = 0.02
    result = Estimator(one_node, seed=9).run([pub], precision=precision).result()[0]
    reference = StatevectorEstimator().run([pub]).result()[0]
    assert result.data.evs.shape == result.data.stds.shape == (2, 2)
    assert np.all(np.abs(result.data.evs - reference.data.evs) < 4 * precision)
    assert np.all(result.data.stds < 2 * precision)
    assert result.metadata["shots"] == 2500 and result.metadata["target_precision"] == precision
    assert len(result.metadata["bases"]) == 3  # ZZ; XX; YZ serves YI and IZ


def test_estimator_seeded_reproducible_and_exact_on_eigenstates(one_node, three_nodes):
    circuit = ghz(3)
    circuit.remove_final_measurements()
    observables = [SparsePauliOp("ZZI"), SparsePauliOp("XXX"), SparsePauliOp.from_list([("III", 2.0)])]
    small = Estimator(one_node, seed=4).run([(circuit, observables)]).result()[0]
    wide = Estimator(three_nodes, seed=4).run([(circuit, observables)]).result()[0]
    assert np.allclose(small.data.evs, [1.0, 1.0, 2.0]) and np.allclose(small.data.stds, 0.0)
    assert np.array_equal(small.data.evs, wide.data.evs)


def test_estimator_bad_input(one_node):
    circuit = rotation()
    circuit.remove_final_measurements()
    with pytest.raises(ValueError, match="number of parameters"):
        Estimator(one_node).run([(circuit, SparsePauliOp("ZZ"))])
    with pytest.raises(ValueError, match="inconsistent with last dimension"):
        Estimator(one_node).run([(two_parameters(), SparsePauliOp("ZZ"), [[0.1, 0.2, 0.3]])])
    with pytest.raises(ValueError, match="number of qubits"):
        Estimator(one_node).run([(circuit, SparsePauliOp("ZZZ"), [0.1])])
    with pytest.raises(ValueError, match="precision"):
        Estimator(one_node).run([(circuit, SparsePauliOp("ZZ"), [0.1])], precision=0)


# -- QcosBackend ---------------------------------------------------------
def test_backend_target_transpile_and_counts(one_node):
    backend = qcos.QcosBackend(one_node)
    assert backend.num_qubits == max(spec.max_qubits for spec in one_node.nodes)
    assert {"cx", "rz", "sx", "measure"} <= set(backend.operation_names)
    circuit = transpile(basis(0b1011, 5), backend)
    assert circuit.num_qubits == 5
    result = backend.run(circuit, shots=300, seed_simulator=1).result()
    assert result.success and result.get_counts() == {"01011": 300}
    assert result.results[0].header["name"] == "basis-11"


def test_backend_memory_registers_and_reproducibility(one_node, three_nodes):
    a, b = ClassicalRegister(1, "a"), ClassicalRegister(2, "b")
    circuit = QuantumCircuit(QuantumRegister(3), a, b)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.x(2)
    circuit.measure(0, a[0])
    circuit.measure([1, 2], b)
    job = QcosBackend(one_node).run([circuit, ghz(3)], shots=2000, seed_simulator=8, memory=True)
    result = job.result()
    assert job.status().name == "DONE" and job.job_id() == result.job_id
    counts = result.get_counts(0)
    assert set(counts) == {"10 0", "11 1"} and sum(counts.values()) == 2000
    memory = result.get_memory(0)
    assert len(memory) == 2000 and {m: memory.count(m) for m in set(memory)} == counts
    wide = QcosBackend(three_nodes).run([circuit, ghz(3)], shots=2000, seed_simulator=8).result()
    assert wide.get_counts() == result.get_counts()


def test_backend_sampler_v2_counts_are_exact(one_node):
    backend = QcosBackend(one_node)
    sampler = BackendSamplerV2(backend=backend, options={"seed_simulator": 5})
    pubs = [transpile(bell(), backend), transpile(basis(6, 4), backend), (transpile(rotation(), backend), [0.0, np.pi])]
    result = sampler.run(pubs, shots=1000).result()
    bell_counts = result[0].data.meas.get_counts()
    assert sum(bell_counts.values()) == 1000 and set(bell_counts) == {"00", "11"}
    assert result[1].data.c.get_counts() == {"0110": 1000}
    assert result[2].data.meas.get_counts(0) == {"00": 1000}
    again = BackendSamplerV2(backend=backend, options={"seed_simulator": 5}).run(pubs, shots=1000).result()
    assert again[0].data.meas.get_counts() == bell_counts


def test_backend_estimator_v2_matches_statevector_estimator(one_node):
    backend = QcosBackend(one_node)
    theta = Parameter("theta")
    circuit = QuantumCircuit(2)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    pub = (transpile(circuit, backend), SparsePauliOp.from_list([("ZZ", 1.0), ("XX", 0.5)]), [0.3, 1.0])
    ours = BackendEstimatorV2(backend=backend, options={"seed_simulator": 2}).run([pub], precision=0.02).result()[0]
    theirs = StatevectorEstimator().run([pub]).result()[0]
    assert np.all(np.abs(ours.data.evs - theirs.data.evs) < 4 * 0.02)


def test_backend_rejects_bad_options_and_handles_unmeasured_circuits(one_node):
    backend = QcosBackend(one_node)
    with pytest.raises(PrimitiveError, match=r"unknown option\(s\) \['shot'\].*valid options are: memory, parameter_binds, seed_simulator, shots"):
        backend.run(bell(), shot=10)
    with pytest.raises(ValueError, match="shots must be a positive integer"):
        backend.run(bell(), shots=0)
    with pytest.raises(QcosError, match="not a QuantumCircuit"):
        backend.run([bell(), 42])
    bare = QuantumCircuit(1)
    bare.h(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = backend.run([bare, bell()], shots=10).result()
    assert result.get_counts(1) and not hasattr(result.results[0].data, "counts")
    with pytest.raises(QcosError, match="unbound parameters"):
        backend.run(rotation(), shots=10).result()


# -- from the user's seat ------------------------------------------------
def test_example_runs_as_a_plain_script(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "qiskit_primitives.py"
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sampler shape (5,)" in result.stdout and "BackendSamplerV2 counts" in result.stdout
    assert "Traceback" not in result.stderr


def test_qcos_exports_the_backend_lazily():
    assert qcos.QcosBackend is QcosBackend and "QcosBackend" in qcos.__all__
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        qcos.Nope  # noqa: B018


# -- counts from any node --------------------------------------------------
def test_counts_keys_in_every_form_become_the_same_bits():
    from qcos.primitives.bits import hex_counts, outcome_bits

    for counts in ({"1 01": 3, "0 10": 2}, {"101": 3, "010": 2}, {"0x5": 3, "0x2": 2}, {"101": 3, "10": 2}):
        rows, frequencies = outcome_bits(counts, 3)
        assert rows.tolist() == [[1, 0, 1], [0, 1, 0]] and frequencies.tolist() == [3, 2]
        assert hex_counts(counts, 3) == {"0x5": 3, "0x2": 2}
    for bad, message in (({"1111": 3, "11": 1}, "has 4 bits"), ({"1x1": 1}, "bitstrings or hex"),
                         ({"1é1": 1}, "bitstrings or hex")):
        with pytest.raises(ValueError, match=message):
            outcome_bits(bad, 3)


def test_jobs_submitted_together_each_get_their_own_counts(one_node):
    sampler = Sampler(one_node, seed=3)
    backend = QcosBackend(one_node)
    jobs = [sampler.run([basis(i, 6)], shots=50) for i in range(6)]
    backend_jobs = [backend.run(basis(i, 6), shots=50) for i in range(6)]
    for i, job in enumerate(jobs):
        assert job.result()[0].data.c.get_counts() == {format(i, "06b"): 50}
    for i, job in enumerate(backend_jobs):
        assert job.result().get_counts() == {format(i, "06b"): 50}


def test_too_wide_circuits_name_the_widest_node():
    from qiskit.transpiler.exceptions import TranspilerError

    from qcos.exceptions import NoEligibleNodeError

    with ClusterBuilder().add("local_cpu", n_nodes=1, max_qubits=3).build() as registry:
        with pytest.raises(NoEligibleNodeError, match="needs 4 qubits.*max_qubits >= 4"):
            Sampler(registry).run([ghz(4)]).result()
        backend = QcosBackend(registry)
        assert backend.num_qubits == 3
        with pytest.raises(TranspilerError):
            transpile(ghz(4), backend)


def test_backend_parameter_binds_like_aer(one_node):
    backend = QcosBackend(one_node)
    circuit = rotation()
    theta = next(iter(circuit.parameters))
    result = backend.run([circuit, bell()], parameter_binds=[{theta: [0.0, np.pi]}, {}], shots=200, seed_simulator=1).result()
    assert len(result.results) == 3
    assert result.get_counts(0) == {"00": 200}
    assert set(result.get_counts(1)) == {"01", "11"} and sum(result.get_counts(1).values()) == 200
    assert set(result.get_counts(2)) == {"00", "11"}
    with pytest.raises(PrimitiveError, match=r"parameter_binds\[0\].*missing \['theta'\]"):
        backend.run([circuit], parameter_binds=[{}])
    with pytest.raises(PrimitiveError, match="one {parameter: \\[values\\]} mapping per circuit"):
        backend.run([circuit], parameter_binds={theta: [0.1]})


def test_backend_points_run_as_sweeps_and_plain_circuits_keep_run_batch_seeds(one_node):
    from qcos.circuits.seeds import circuit_keys

    backend = QcosBackend(one_node)
    circuit = rotation()
    theta = next(iter(circuit.parameters))
    plain = transpile(ghz(3), backend)
    result = backend.run([plain], shots=500, seed_simulator=9).result()
    batch = backend.qvm.run_batch([plain], 500, 9, keys=circuit_keys([plain]))
    assert result.get_counts(0) == batch[0].counts  # one-point sweep: the circuit's own chunk seed
    values = np.linspace(0.1, 3.0, 6)
    swept = backend.run([circuit], parameter_binds=[{theta: values}], shots=400, seed_simulator=3).result()
    again = backend.run([circuit], parameter_binds=[{theta: values}], shots=400, seed_simulator=3).result()
    assert [swept.get_counts(i) for i in range(6)] == [again.get_counts(i) for i in range(6)]
    assert swept.results[0].metadata["chunks"] == 1 and swept.results[0].header["global_phase"] == 0.0
    with pytest.raises(QcosError, match="unbound parameters \\(theta\\).*parameter_binds"):
        backend.run([circuit], shots=10).result()


# -- noise (DistributedQVM run options) -------------------------------------
def readout_noise(p: float):
    from qiskit_aer.noise import NoiseModel, ReadoutError, depolarizing_error

    model = NoiseModel(basis_gates=["cx", "rz", "sx", "x"])
    model.add_all_qubit_quantum_error(depolarizing_error(0.001, 2), ["cx"])
    model.add_all_qubit_readout_error(ReadoutError([[1 - p, p], [p, 1 - p]]))
    return model


def test_noise_reaches_sampler_estimator_and_backend(one_node, monkeypatch):
    calls = {"node": 0}
    original = simulator.pass_manager
    monkeypatch.setattr(simulator, "pass_manager", lambda *a, **k: (calls.__setitem__("node", calls["node"] + 1), original(*a, **k))[1])
    options = {"options": {"noise_model": readout_noise(0.1)}}
    counts = Sampler(one_node, seed=1, **options).run([(rotation(), [[0.0]])], shots=4000).result()[0].data.meas.get_counts(0)
    assert 0.75 < counts["00"] / 4000 < 0.87  # (1 - 0.1)^2 = 0.81 of the shots stay 00
    assert calls["node"] == 0  # the template was compiled to the noise model's gates once
    circuit = rotation()
    circuit.remove_final_measurements()
    evs = Estimator(one_node, seed=1, **options).run([(circuit, SparsePauliOp("ZZ"), [[0.0]])]).result()[0].data.evs
    assert abs(evs[0] - 0.64) < 0.08  # <ZZ> = (1 - 2p)^2
    backend = QcosBackend(one_node, **options)
    assert "rzz" not in backend.operation_names and "cx" in backend.operation_names
    noisy = backend.run(transpile(basis(0, 2), backend), shots=4000, seed_simulator=1).result().get_counts()
    assert 0.75 < noisy["00"] / 4000 < 0.87, noisy
