"""Sweep templates: the qaoa_ring family compiled once per structure, points bound, same circuits."""

from __future__ import annotations

import numpy as np
from qiskit.quantum_info import Statevector

from qcos.circuits.families import build_circuit
from qcos.circuits.sweep import CircuitSpec
from qcos.circuits.templates import TEMPLATES, build_template, compile_specs
from qcos.workflow.steps import make_pass_manager


def probabilities(circuit) -> np.ndarray:
    return Statevector(circuit.remove_final_measurements(inplace=False)).probabilities()


def qaoa(gamma: float, beta: float, qubits: int = 4, layers: int = 2) -> CircuitSpec:
    params = {"qubits": qubits, "gamma": gamma, "beta": beta, "layers": layers}
    return CircuitSpec(f"qaoa_ring-q{qubits}-g{gamma}-b{beta}-p{layers}", "qaoa_ring", params)


class CountingCompiler:
    def __init__(self, manager) -> None:
        self.manager = manager
        self.calls = 0

    def run(self, circuits, **options):
        self.calls += 1
        return self.manager.run(circuits, **options)


def test_bound_template_is_the_family_circuit():
    circuit, angles = build_template("qaoa_ring", {"qubits": 5, "layers": 2, "gamma": 0, "beta": 0})
    assert set(angles) == {"gamma", "beta"} == set(TEMPLATES["qaoa_ring"].swept)
    params = {"qubits": 5, "gamma": 0.7, "beta": 0.3, "layers": 2}
    bound = circuit.assign_parameters({angles["gamma"]: 0.7, angles["beta"]: 0.3})
    built = build_circuit("qaoa_ring", params, "x", 1)
    assert bound.count_ops() == built.count_ops()
    assert np.allclose(probabilities(bound), probabilities(built))


def test_one_compile_per_template_structure_and_the_same_distributions():
    specs = [qaoa(g, b) for g in (0.1, 0.5, 0.9) for b in (0.2, 0.4)]
    specs += [qaoa(0.3, 0.3, qubits=3), qaoa(0.6, 0.1, qubits=3)]
    specs.insert(2, CircuitSpec("ghz-q3", "ghz", {"qubits": 3}))
    compiler = CountingCompiler(make_pass_manager({"optimization_level": 1}, 7))
    compiled = compile_specs(specs, compiler, 7)
    assert compiler.calls == 3  # two qaoa structures + one batch for ghz
    assert [c.num_qubits for c in compiled] == [s.params["qubits"] for s in specs]
    for spec, circuit in zip(specs, compiled, strict=True):
        assert not circuit.parameters
        assert set(circuit.count_ops()) <= {"cx", "rz", "sx", "x", "h", "measure", "barrier"}
        reference = build_circuit(spec.family, spec.params, spec.id, 7)
        assert np.allclose(probabilities(circuit), probabilities(reference), atol=1e-9), spec.id


def test_a_points_circuit_does_not_depend_on_its_batch():
    manager = make_pass_manager({"optimization_level": 1}, 7)
    alone = compile_specs([qaoa(0.5, 0.2)], manager, 7)[0]
    among = compile_specs([qaoa(0.1, 0.4), qaoa(0.5, 0.2)], manager, 7)[1]
    assert alone == among
