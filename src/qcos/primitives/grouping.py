"""Pauli observables measured in shared bases: grouping, basis-change circuits and the estimates.

Why: every qubit-wise commuting group of Pauli terms is read from one measured circuit,
so an observable of many terms costs a few circuits per point, not one per term.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit
from qiskit.quantum_info import PauliList

from qcos.exceptions import PrimitiveError

logger = logging.getLogger(__name__)

#: name of the register the basis measurements are written to
MEASURE_REGISTER = "__qcos_pauli"


@dataclass(frozen=True)
class Basis:
    """One measurement basis: a letter per measured qubit and the Pauli labels it serves."""

    label: str  # dense, qubit 0 rightmost, 'I' where the qubit is not measured
    labels: tuple[str, ...]

    @property
    def qubits(self) -> list[int]:
        """Measured qubits, ascending (the order of the measurement register's bits)."""
        return [q for q in range(len(self.label)) if self.label[-1 - q] != "I"]


def identity_label(label: str) -> bool:
    return not label.strip("I")


def group_bases(labels: Iterable[str]) -> list[Basis]:
    """Qubit-wise commuting groups (``PauliList.group_commuting``) of the non-identity labels."""
    unique = sorted({label for label in labels if not identity_label(label)})
    if not unique:
        return []
    bases = []
    for group in PauliList(unique).group_commuting(qubit_wise=True):
        z = np.logical_or.reduce(group.z, axis=0)
        x = np.logical_or.reduce(group.x, axis=0)
        letters = ["Y" if xi and zi else "X" if xi else "Z" if zi else "I" for zi, xi in zip(z, x, strict=True)]
        bases.append(Basis("".join(reversed(letters)), tuple(sorted(p.to_label() for p in group))))
    return sorted(bases, key=lambda b: b.label)


def measured_circuit(circuit: QuantumCircuit, basis: Basis, physical: list[int]) -> QuantumCircuit:
    """``circuit`` followed by the basis change of ``basis`` and its measurements (Aer-native gates)."""
    measured = circuit.copy()
    qubits = basis.qubits
    register = ClassicalRegister(len(qubits), MEASURE_REGISTER)
    if any(r.name == MEASURE_REGISTER for r in circuit.cregs):
        raise PrimitiveError(f"the circuit already has a classical register named {MEASURE_REGISTER!r}; rename it")
    measured.add_register(register)
    for bit, qubit in enumerate(qubits):
        where = physical[qubit]
        letter = basis.label[-1 - qubit]
        if letter == "Y":
            measured.sdg(where)
        if letter in "XY":
            measured.h(where)
        measured.measure(where, register[bit])
    return measured


def term_signs(rows: np.ndarray, basis: Basis, labels: Iterable[str]) -> dict[str, np.ndarray]:
    """For each label, its eigenvalue (+1/-1) on each distinct outcome of the measurement register."""
    position = {qubit: bit for bit, qubit in enumerate(basis.qubits)}
    signs = {}
    for label in labels:
        columns = [position[q] for q in range(len(label)) if label[-1 - q] != "I"]
        parity = rows[:, columns].sum(axis=1) % 2 if columns else np.zeros(len(rows), dtype=np.int64)
        signs[label] = 1.0 - 2.0 * parity
    return signs


def estimate(terms: Mapping[str, float], signs: Mapping[str, np.ndarray], frequencies: np.ndarray) -> tuple[float, float]:
    """Mean and variance of the mean of ``sum(c * P)`` over one basis' shots (exact covariances)."""
    shots = float(frequencies.sum())
    values = np.zeros(len(frequencies))
    for label, coefficient in terms.items():
        values += coefficient * signs[label]
    mean = float(np.dot(frequencies, values) / shots)
    spread = float(np.dot(frequencies, (values - mean) ** 2))
    variance = spread / (shots - 1) / shots if shots > 1 else 0.0
    return mean, variance
