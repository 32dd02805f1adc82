"""Small circuits with known outcomes, shared by the tests."""

from __future__ import annotations

from qiskit import QuantumCircuit


def ghz(n: int = 3, name: str | None = None) -> QuantumCircuit:
    """GHZ state on ``n`` qubits, measured into one register: outcomes 0...0 and 1...1."""
    circuit = QuantumCircuit(n, n, name=name or f"ghz{n}")
    circuit.h(0)
    for qubit in range(n - 1):
        circuit.cx(qubit, qubit + 1)
    circuit.measure(range(n), range(n))
    return circuit


def basis(index: int, width: int = 8) -> QuantumCircuit:
    """A circuit whose only outcome is ``index`` in binary: exact counts are known."""
    circuit = QuantumCircuit(width, width, name=f"basis-{index}")
    for bit in range(width):
        if (index >> bit) & 1:
            circuit.x(bit)
    circuit.measure(range(width), range(width))
    return circuit
