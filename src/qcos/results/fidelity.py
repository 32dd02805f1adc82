"""The ideal outcome distribution of a measured circuit, and Hellinger fidelity against it."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector, hellinger_fidelity

logger = logging.getLogger(__name__)

#: operations that make a circuit's ideal distribution depend on more than a statevector
_NON_UNITARY = frozenset({"measure", "reset", "initialize", "if_else", "while_loop", "for_loop", "switch_case", "box"})


def ideal_distribution(circuit: QuantumCircuit) -> dict[str, float] | None:
    """Outcome probabilities over the circuit's classical bits (Qiskit's bit order), or None.

    Works for circuits whose measurements are all final (one per clbit at most): the
    statevector of the circuit without them gives the probabilities of the measured
    qubits; unmeasured clbits read 0. Returns None for anything else (mid-circuit
    measurement, resets, control flow).
    """
    measured: dict[int, int] = {}
    for instruction in circuit.data:
        if instruction.operation.name == "measure":
            clbit = circuit.find_bit(instruction.clbits[0]).index
            if clbit in measured:
                return None
            measured[clbit] = circuit.find_bit(instruction.qubits[0]).index
    if not measured:
        return None
    stripped = circuit.remove_final_measurements(inplace=False)
    if any(inst.operation.name in _NON_UNITARY or inst.clbits for inst in stripped.data):
        return None
    clbits = sorted(measured)
    try:
        probabilities = Statevector(stripped).probabilities_dict(qargs=[measured[c] for c in clbits])
    except Exception as error:  # an operation without a matrix, say
        logger.debug("no ideal distribution for %s: %s", circuit.name, error)
        return None
    width = circuit.num_clbits
    distribution: dict[str, float] = {}
    for key, probability in probabilities.items():
        if probability < 1e-15:
            continue
        bits = ["0"] * width
        for j, clbit in enumerate(clbits):
            bits[width - 1 - clbit] = key[len(key) - 1 - j]
        outcome = "".join(bits)
        distribution[outcome] = distribution.get(outcome, 0.0) + float(probability)
    return distribution


def fidelity(counts: Mapping[str, int], ideal: Mapping[str, float]) -> float:
    """Hellinger fidelity of measured counts against an ideal distribution (1 = identical)."""
    return float(hellinger_fidelity({k.replace(" ", ""): v for k, v in counts.items()}, dict(ideal)))
