"""Parametric templates: transpile a circuit once, then bind each parameter point into the result.

Why: a sweep of N points used to be N circuits built and transpiled one by one; binding
values into one transpiled template skips N-1 transpiles and gives circuits that every
Aer node runs as they are (no second transpile on the node).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives.containers import BindingsArray

from qcos.circuits.seeds import circuit_fingerprint
from qcos.primitives.target import aer_target, is_native, template_pass_manager
from qcos.qvm.sweeps import Sweep

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Template:
    """A circuit transpiled once for Aer, ready to have its parameters bound."""

    source: QuantumCircuit
    circuit: QuantumCircuit
    fingerprint: str
    transpile_s: float

    def sweep(self, values: np.ndarray, key: str) -> Sweep:
        """The points ``values`` (``(..., num_parameters)``, C order) as a sweep of the transpiled circuit."""
        size = int(np.prod(values.shape[:-1], dtype=np.int64))
        rows = values.reshape(size, self.source.num_parameters)
        column = {parameter: i for i, parameter in enumerate(self.source.parameters)}
        kept = [column[parameter] for parameter in self.circuit.parameters]  # transpiling may drop one
        return Sweep(self.circuit, np.ascontiguousarray(rows[:, kept], dtype=float), key)

    def sweep_all(self, bindings: BindingsArray, key: str) -> Sweep:
        """Every point of a PUB's ``BindingsArray`` (C order) as a sweep."""
        if not self.source.num_parameters:
            return self.sweep(np.zeros(bindings.shape + (0,)), key)
        return self.sweep(bindings.as_array(self.source.parameters), key)


class TemplateCache:
    """Transpiled templates reused across ``run`` calls (a VQE loop sends one circuit many times)."""

    def __init__(self, optimization_level: int = 1, options: Mapping[str, Any] | None = None,
                 capacity: int = 64) -> None:
        self.optimization_level = optimization_level
        self.options = dict(options or {})  # the DistributedQVM's run options (a noise model narrows the gates)
        self.capacity = capacity
        self._templates: OrderedDict[Hashable, Template] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, circuit: QuantumCircuit, num_qubits: int) -> Template:
        """The template of ``circuit`` for a target of ``num_qubits`` qubits (transpiled on first use)."""
        fingerprint = circuit_fingerprint(circuit)
        key = (fingerprint, num_qubits, tuple(p.uuid for p in circuit.parameters),
               tuple((r.name, r.size) for r in circuit.cregs))
        with self._lock:
            template = self._templates.get(key)
            if template is not None:
                self._templates.move_to_end(key)
                return template
        started = time.perf_counter()
        transpiled = self.compile(circuit, num_qubits)
        template = Template(circuit, transpiled, fingerprint, time.perf_counter() - started)
        logger.debug("transpiled template %r (%d parameters) in %.3fs", circuit.name,
                     circuit.num_parameters, template.transpile_s)
        with self._lock:
            self._templates[key] = template
            while len(self._templates) > self.capacity:
                self._templates.popitem(last=False)
        return template

    def compile(self, circuit: QuantumCircuit, num_qubits: int) -> QuantumCircuit:
        """``circuit`` transpiled for the cluster's Aer target (no caching)."""
        return template_pass_manager(num_qubits, self.optimization_level, self.options).run(circuit)

    def native(self, circuit: QuantumCircuit, num_qubits: int) -> bool:
        """Whether the nodes run ``circuit`` as it is (no second transpile on a node)."""
        return is_native(circuit, aer_target(num_qubits, self.options))
