"""Aer's gate set as a Qiskit ``Target`` and pass manager, sized to a cluster's widest node.

Why here: the primitives transpile a parametric template once for every node of a
cluster; Aer's own default target is sized to *this* machine's memory (about 30 qubits),
which would refuse the wide circuits an MPS or LUMI node takes.
"""

from __future__ import annotations

import functools
import logging

from qiskit.transpiler import PassManager, Target
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager
from qiskit_aer import AerSimulator

from qcos.providers.cluster import QPURegistry

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=16)
def aer_target(num_qubits: int) -> Target:
    """Aer's instruction set (every gate on every qubit, no coupling map) on ``num_qubits`` qubits."""
    simulator = AerSimulator()
    simulator.set_max_qubits(int(num_qubits))
    return simulator.target


@functools.lru_cache(maxsize=16)
def template_pass_manager(num_qubits: int, optimization_level: int = 1) -> PassManager:
    """A reused preset pass manager for :func:`aer_target` (``transpile()`` builds one per call)."""
    return generate_preset_pass_manager(optimization_level=optimization_level, target=aer_target(num_qubits))


def widest_online(registry: QPURegistry) -> int:
    """The most qubits any online node of ``registry`` takes (0 when none is online)."""
    return max((spec.max_qubits for spec in registry.nodes if spec.online), default=0)
