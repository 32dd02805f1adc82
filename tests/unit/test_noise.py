"""The noise spec: validation with one-line errors, canonical form and digest, Aer model, runs."""

from __future__ import annotations

import pytest
from qiskit_aer.noise import NoiseModel, depolarizing_error
from sample_circuits import ghz

from qcos.circuits.noise import NOISE_BASIS, parse_noise
from qcos.exceptions import ConfigError
from qcos.providers import ClusterBuilder
from qcos.qvm import DistributedQVM
from qcos.results.fidelity import fidelity, ideal_distribution

NOISE = {"depolarizing": {"p1": 0.002, "p2": 0.05}, "readout": 0.02}


@pytest.mark.parametrize(("value", "message"), [
    ({"depolarising": {"p1": 0.1}}, "noise: unknown key(s) 'depolarising'; allowed keys: depolarizing, readout"),
    ({"depolarizing": {"p3": 0.1}}, "noise.depolarizing: unknown key(s) 'p3'"),
    ({"depolarizing": {"p1": 1.5}}, "noise.depolarizing.p1: 1.5 is not a probability"),
    ({"readout": "high"}, "noise.readout: 'high' is not a finite number"),
    ({"thermal": {"t1_us": 50}}, "noise.thermal: missing 't2_us'"),
    ({"thermal": {"t1_us": 10, "t2_us": 30}}, "noise.thermal.t2_us: 30 exceeds 2*t1_us = 20"),
    ({"backend": "sherbrooke"}, "noise.backend: expected a Qiskit fake device name"),
    ({"backend": "fake_x", "readout": 0.1}, "'backend' takes the whole model"),
    ([0.1], "noise: expected a mapping"),
])
def test_bad_specs_get_one_line_errors_naming_the_key(value, message):
    with pytest.raises(ConfigError) as error:
        parse_noise(value)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_canonical_form_and_digest_ignore_spelling():
    a = parse_noise({"readout": 0.02, "depolarizing": {"p2": 0.05, "p1": 0.002}})
    b = parse_noise({"depolarizing": {"p1": 0.002, "p2": 0.05}, "readout": 0.02, "thermal": None})
    assert a == b and a.digest == b.digest and len(a.digest) == 16
    assert a.to_dict() == NOISE
    assert parse_noise(a.to_dict()) == a
    assert parse_noise({"depolarizing": {"p1": 0.002, "p2": 0.06}}).digest != a.digest
    assert parse_noise(None) is None and parse_noise({}) is None and parse_noise({"readout": 0}) is None


def test_built_model_puts_errors_on_the_basis():
    model = parse_noise({**NOISE, "thermal": {"t1_us": 100, "t2_us": 80}}).build()
    assert set(model.basis_gates) == set(NOISE_BASIS)
    assert set(model.noise_instructions) == {"sx", "x", "cx", "measure"}


def test_an_aer_noise_model_is_accepted_and_travels_as_json():
    model = NoiseModel(basis_gates=list(NOISE_BASIS))
    model.add_all_qubit_quantum_error(depolarizing_error(0.05, 2), ["cx"])
    spec = parse_noise(model)
    assert spec is not None and parse_noise(spec.to_dict()) == spec
    assert "cx" in spec.build().noise_instructions
    assert parse_noise(NoiseModel()) is None  # an ideal model is no noise


@pytest.mark.slow
def test_ghz5_fidelity_drops_with_noise_and_counts_do_not_depend_on_the_cluster():
    circuit = ghz(5)
    ideal = ideal_distribution(circuit)
    counts = {}
    for nodes in (1, 3):
        with ClusterBuilder().add("local_cpu", n_nodes=nodes).build() as registry:
            noisy = DistributedQVM(registry, shots=4096, seed=9, chunk_shots=512, noise=NOISE).run(circuit)
            clean = DistributedQVM(registry, shots=4096, seed=9, chunk_shots=512).run(circuit)
        counts[nodes] = noisy.counts
        assert fidelity(noisy.counts, ideal) < 0.95
        assert fidelity(clean.counts, ideal) > 0.98
    assert counts[1] == counts[3]


def test_qvm_rejects_a_bad_noise_argument():
    with ClusterBuilder().add("local_cpu").build() as registry, pytest.raises(ConfigError) as error:
        DistributedQVM(registry, noise={"readout": 2})
    assert "DistributedQVM(noise=...).readout" in str(error.value)


def test_an_aer_noise_model_has_one_digest():
    def model() -> NoiseModel:
        m = NoiseModel(basis_gates=list(NOISE_BASIS))
        m.add_all_qubit_quantum_error(depolarizing_error(0.01, 1), ["sx", "x"])
        return m

    assert parse_noise(model()).digest == parse_noise(model()).digest


def test_a_fake_device_names_what_to_install_or_builds_its_model():
    spec = parse_noise({"backend": "fake_sherbrooke"})
    assert spec is not None and spec.describe() == "device fake_sherbrooke"
    try:
        import qiskit_ibm_runtime  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError) as error:
            spec.build()
        assert "pip install 'qcos[devices]'" in str(error.value)
    else:
        assert "ecr" in spec.basis_gates or "cz" in spec.basis_gates
        with pytest.raises(ConfigError) as error:
            parse_noise({"backend": "fake_nowhere"}).build()
        assert "unknown device 'fake_nowhere'" in str(error.value)


def test_a_worker_parses_a_shared_noise_spec_once_and_a_new_one_again(monkeypatch):
    from qcos.circuits import noise as noise_module
    from qcos.workers.aer import Runner

    calls = []
    real = noise_module.parse_noise
    monkeypatch.setattr(noise_module, "parse_noise", lambda value, **kw: calls.append(value) or real(value, **kw))
    runner = Runner({})
    shared = {"readout": 0.02}
    first = runner._noise(shared)
    assert runner._noise(shared) is first and len(calls) == 1  # the chunks of one message share the mapping
    other = runner._noise({"readout": 0.05})
    assert len(calls) == 2 and other is not None and other.digest != first.digest
    assert runner._noise(None) is None and runner._noise({}) is None
