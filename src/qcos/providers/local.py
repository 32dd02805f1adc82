"""Built-in local Aer providers: ``local_cpu``, ``local_gpu`` and ``local_gpu_mps``."""

from __future__ import annotations

import logging
import math
import os
from typing import Any, ClassVar

from qcos.checks import require_int
from qcos.providers.base import NodeProvider
from qcos.providers.spec import NodeType, QPUNodeSpec
from qcos.workers import WorkerConfig, WorkerPool, default_memory_mb, simulator

logger = logging.getLogger(__name__)


def memory_bound_qubits(bytes_per_amplitude: int = 16, fraction: float = 0.5) -> int:
    """Largest statevector that fits in ``fraction`` of this machine's memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 28
    return max(1, int(math.log2(total * fraction / bytes_per_amplitude)))


class _LocalAerProvider(NodeProvider):
    """Nodes that run on this machine with the built-in Aer executor (no execute override)."""

    NODE_TYPE: ClassVar[NodeType] = NodeType.CPU_AER
    ID_PREFIX: ClassVar[str] = "local"
    DEVICE: ClassVar[str] = "CPU"
    DEFAULT_METHOD: ClassVar[str] = "automatic"

    #: Worker processes shared by this provider's nodes (None: run in the calling thread).
    _pool: WorkerPool | None = None

    def build_nodes(
        self,
        n_nodes: int = 1,
        max_qubits: int | None = None,
        method: str | None = None,
        aer_options: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        weight: float = 1.0,
        id_prefix: str | None = None,
        processes: bool | None = None,
        worker_memory_mb: int | None = None,
    ) -> list[QPUNodeSpec]:
        """``processes``: run each node in its own warm worker process (default: when
        ``n_nodes > 1``), since Aer holds the GIL and threads would share one core.
        ``worker_memory_mb``: address-space cap of each worker (default: host RAM shared by
        the workers; 0: none); a circuit over it fails alone as "out of memory"."""
        require_int("n_nodes", n_nodes)
        method = method or self.DEFAULT_METHOD
        valid_methods = simulator.simulator().available_methods()
        if method not in valid_methods:
            raise ValueError(f"method {method!r} is not an Aer method; valid: {', '.join(valid_methods)}")
        options = simulator.validate_options(dict(aer_options or {}))
        options.setdefault("method", method)
        options.setdefault("device", self.DEVICE)
        if self.DEVICE == "CPU":
            options.setdefault("max_parallel_threads", simulator.threads_per_node(n_nodes))
        if processes is None:
            processes = n_nodes > 1 and self.DEVICE == "CPU"
        if worker_memory_mb is not None:
            require_int("worker_memory_mb", worker_memory_mb, minimum=0, what="an integer >= 0 (0: no cap)")
        if self._pool is not None:
            self._pool.close()
        self._pool = None
        if processes:
            memory = default_memory_mb(n_nodes, self.DEVICE) if worker_memory_mb is None else worker_memory_mb
            config = WorkerConfig(memory_mb=memory, label=self.ID_PREFIX)
            self._pool = WorkerPool(config, n_nodes)
        if max_qubits is None:
            max_qubits = self.default_max_qubits(method)
        prefix = id_prefix or f"{self.ID_PREFIX}"
        return [
            QPUNodeSpec(
                node_id=f"{prefix}-{i}",
                node_type=self.NODE_TYPE,
                max_qubits=max_qubits,
                tags=list(tags or ["local", self.DEVICE.lower()]),
                options=dict(options),
                weight=weight,
            )
            for i in range(n_nodes)
        ]

    def worker_pool(self) -> WorkerPool | None:
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def default_max_qubits(self, method: str) -> int:
        if method in ("matrix_product_state", "stabilizer", "extended_stabilizer"):
            return 128
        if method in ("density_matrix", "unitary", "superop"):
            return max(1, memory_bound_qubits() // 2)
        return min(32, memory_bound_qubits())


class LocalCPUProvider(_LocalAerProvider):
    """Aer on this machine's CPU; the default provider."""

    DISPLAY_NAME = "Local Aer (CPU)"
    ID_PREFIX = "local-cpu"


class LocalGPUProvider(_LocalAerProvider):
    """Aer with ``device='GPU'``; unhealthy (with the reason) where no GPU build or device exists."""

    DISPLAY_NAME = "Local Aer (GPU)"
    NODE_TYPE = NodeType.GPU_AER
    ID_PREFIX = "local-gpu"
    DEVICE = "GPU"

    def default_max_qubits(self, method: str) -> int:
        return 30

    def health_check(self) -> bool:
        available, reason = simulator.gpu_status()
        self.health_reason = None if available else reason
        return available


class LocalMPSProvider(_LocalAerProvider):
    """Aer's matrix-product-state method (CPU): wide, weakly entangled circuits."""

    DISPLAY_NAME = "Local Aer (matrix product state)"
    NODE_TYPE = NodeType.GPU_MPS
    ID_PREFIX = "local-mps"
    DEFAULT_METHOD = "matrix_product_state"
