"""Sweep families as one parametric template plus a parameter array: one transpile per template.

Why: a sweep over continuous angles (QAOA's gamma and beta) used to build and transpile
every point as its own circuit. A family with a template is built once per structure
(qubits, layers) with symbolic angles, transpiled once, and each point is that compiled
circuit with its values bound. A point's circuit never depends on the rest of its batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

from qcos.circuits.families import build_circuit, qaoa_ring_ansatz
from qcos.circuits.sweep import CircuitSpec

logger = logging.getLogger(__name__)

#: anything with ``run(circuit | list[circuit])`` (a Qiskit PassManager)
Compiler = Any


@dataclass(frozen=True)
class FamilyTemplate:
    """How a family's swept angles become circuit parameters."""

    family: str
    swept: tuple[str, ...]
    build: Callable[[Mapping[str, Any], Mapping[str, Parameter]], QuantumCircuit]

    def structure(self, params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        """The parameters that change the circuit's structure (all but the swept angles)."""
        return tuple(sorted((k, repr(v)) for k, v in params.items() if k not in self.swept))


def _qaoa_ring(params: Mapping[str, Any], angles: Mapping[str, Parameter]) -> QuantumCircuit:
    """The ``qaoa_ring`` family's ansatz with symbolic ``gamma`` and ``beta``."""
    return qaoa_ring_ansatz(params, angles["gamma"], angles["beta"])


_TEMPLATES: dict[str, FamilyTemplate] = {
    "qaoa_ring": FamilyTemplate("qaoa_ring", ("gamma", "beta"), _qaoa_ring),
}

#: Read-only view: the families that are built as one template per structure.
TEMPLATES: Mapping[str, FamilyTemplate] = MappingProxyType(_TEMPLATES)


def build_template(family: str, params: Mapping[str, Any]) -> tuple[QuantumCircuit, dict[str, Parameter]]:
    """The parametric circuit of ``family`` for ``params``' structure, and its parameters by name."""
    template = TEMPLATES[family]
    angles = {name: Parameter(name) for name in template.swept}
    return template.build(params, angles), angles


def compile_specs(specs: Sequence[CircuitSpec], compiler: Compiler, seed: int) -> list[QuantumCircuit]:
    """Build and compile a batch's circuits, in order: one compile per template structure,
    one (batched) compile for the circuits of families without a template."""
    compiled: list[QuantumCircuit | None] = [None] * len(specs)
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[int]] = {}
    plain: list[int] = []
    for index, spec in enumerate(specs):
        template = TEMPLATES.get(spec.family)
        if template is None:
            plain.append(index)
        else:
            groups.setdefault((spec.family, template.structure(spec.params)), []).append(index)
    if plain:
        circuits = [build_circuit(specs[i].family, specs[i].params, specs[i].id, seed) for i in plain]
        result = compiler.run(circuits, num_processes=1)  # no process pool for a batch job
        for i, circuit in zip(plain, [result] if isinstance(result, QuantumCircuit) else result, strict=True):
            compiled[i] = circuit
    for (family, _), indices in groups.items():
        circuit, angles = build_template(family, specs[indices[0]].params)
        transpiled = compiler.run(circuit)
        for i in indices:
            values = {angles[name]: float(specs[i].params[name]) for name in angles}
            compiled[i] = transpiled.assign_parameters(values, inplace=False)
    if groups:
        logger.info("compiled %d circuit(s) from %d template(s) and %d circuit(s) one by one",
                    sum(len(v) for v in groups.values()), len(groups), len(plain))
    return [c for c in compiled if c is not None]
