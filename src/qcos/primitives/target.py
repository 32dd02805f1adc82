"""Aer's gate set as a Qiskit ``Target`` and pass manager, sized to a cluster's widest node.

Why here: the primitives transpile a parametric template once for every node of a
cluster; Aer's own default target is sized to *this* machine's memory (about 30 qubits),
which would refuse the wide circuits an MPS or LUMI node takes. Run options count: with a
noise model, Aer's target holds only the model's basis gates, so templates compile to those
and the noise applies to every gate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Mapping
from typing import Any

from qiskit import QuantumCircuit
from qiskit.transpiler import PassManager, Target
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager
from qiskit_aer import AerSimulator

from qcos.providers.cluster import QPURegistry
from qcos.workers import simulator

logger = logging.getLogger(__name__)

#: instructions every Aer target runs whatever its gate set
_DIRECTIVES = frozenset({"measure", "barrier", "reset", "delay", "store"})

_lock = threading.Lock()
_targets: dict[Hashable, Target] = {}
_managers: dict[Hashable, PassManager] = {}


def aer_target(num_qubits: int, options: Mapping[str, Any] | None = None) -> Target:
    """Aer's instruction set for ``options`` (every gate on every qubit, no coupling map) on ``num_qubits`` qubits."""
    key = (int(num_qubits), simulator.options_key(options))
    with _lock:
        target = _targets.get(key)
    if target is None:
        backend = AerSimulator(**dict(options or {}))
        backend.set_max_qubits(int(num_qubits))
        with _lock:
            target = _targets.setdefault(key, backend.target)
    return target


def template_pass_manager(num_qubits: int, optimization_level: int = 1,
                          options: Mapping[str, Any] | None = None) -> PassManager:
    """A reused preset pass manager for :func:`aer_target` (``transpile()`` builds one per call)."""
    key = (int(num_qubits), optimization_level, simulator.options_key(options))
    with _lock:
        manager = _managers.get(key)
    if manager is None:
        manager = generate_preset_pass_manager(optimization_level=optimization_level,
                                               target=aer_target(num_qubits, options))
        with _lock:
            manager = _managers.setdefault(key, manager)
    return manager


def is_native(circuit: QuantumCircuit, target: Target) -> bool:
    """Whether every instruction of ``circuit`` runs on ``target`` as it is."""
    names = set(target.operation_names) | _DIRECTIVES
    return all(name in names for name in circuit.count_ops())


def widest_online(registry: QPURegistry) -> int:
    """The most qubits any online node of ``registry`` takes (0 when none is online)."""
    return max((spec.max_qubits for spec in registry.nodes if spec.online), default=0)
