"""Circuits: OpenQASM input/output and the circuit families of a sweep."""

from qcos.circuits.qasm import dumps, load_file, loads

__all__ = ["dumps", "load_file", "loads"]
