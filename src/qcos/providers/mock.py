"""The ``mock`` provider: deterministic counts without simulation, for tests and dry runs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from qcos.checks import require_int
from qcos.counts import Counts
from qcos.providers.base import NodeProvider
from qcos.providers.spec import NodeType, QPUNodeSpec

if TYPE_CHECKING:
    from qiskit import QuantumCircuit


class MockProvider(NodeProvider):
    """Splits shots between all-zeros and all-ones outcomes, seeded; optional latency."""

    DISPLAY_NAME = "Mock (deterministic counts)"

    def build_nodes(
        self,
        n_nodes: int = 1,
        max_qubits: int = 64,
        latency_s: float = 0.0,
        capacity: int = 1,
        id_prefix: str = "mock",
        tags: list[str] | None = None,
    ) -> list[QPUNodeSpec]:
        require_int("n_nodes", n_nodes)
        if latency_s < 0:
            raise ValueError(f"latency_s must be >= 0, got {latency_s!r}")
        return [
            QPUNodeSpec(
                node_id=f"{id_prefix}-{i}",
                node_type=NodeType.MOCK,
                max_qubits=max_qubits,
                tags=list(tags or ["mock"]),
                capacity=capacity,
                options={"latency_s": latency_s},
            )
            for i in range(n_nodes)
        ]

    def execute(
        self, circuit: QuantumCircuit, shots: int, node_spec: QPUNodeSpec, *, seed: int | None = None
    ) -> Counts:
        latency = float(node_spec.options.get("latency_s", 0.0))
        if latency:
            time.sleep(latency)
        width = circuit.num_clbits
        zeros, ones = "0" * width, "1" * width
        heads = int(np.random.default_rng(seed if seed is not None else 0).binomial(shots, 0.5))
        counts = {zeros: heads, ones: shots - heads} if width else {"": shots}
        return {key: value for key, value in counts.items() if value}
