"""What every chunk's circuit must be before it runs (the QVM and the workers ask the same question)."""

from __future__ import annotations

import logging

from qiskit import QuantumCircuit

logger = logging.getLogger(__name__)


def admission_problem(circuit: QuantumCircuit, *, max_qubits: int | None = None,
                      parametric: bool = False) -> str | None:
    """Why ``circuit`` cannot run as a chunk, or None: wider than ``max_qubits`` (None or 0: any
    width), measuring nothing, or with unbound parameters (allowed when ``parametric``: a sweep's
    points bind them)."""
    if max_qubits and circuit.num_qubits > max_qubits:
        return f"the circuit has {circuit.num_qubits} qubits but at most {max_qubits} are taken here"
    if circuit.num_clbits == 0:
        return ("the circuit measures nothing: add measurements "
                "(circuit.measure_all(), or `c = measure q;` in OpenQASM)")
    if circuit.parameters and not parametric:
        names = ", ".join(sorted(p.name for p in circuit.parameters))
        return (f"the circuit has unbound parameters ({names}): bind them first "
                "(QuantumCircuit.assign_parameters, or values for OpenQASM `input`s)")
    return None
