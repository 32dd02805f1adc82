"""qcos: orchestrate quantum-circuit experiments over Aer, Slurm and REST bridges."""

from qcos.exceptions import QcosError
from qcos.providers import (
    ClusterBuilder,
    NodeProvider,
    NodeProviderRegistry,
    NodeType,
    QPUNodeSpec,
    QPURegistry,
    ShotTask,
)
from qcos.qvm import BatchResult, DistributedQVM, QVMMode, QVMResult

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # QcosBackend pulls in qiskit.primitives; load it on first use only
    if name == "QcosBackend":
        from qcos.primitives.backend import QcosBackend

        return QcosBackend
    raise AttributeError(f"module 'qcos' has no attribute {name!r}")


__all__ = [
    "BatchResult",
    "ClusterBuilder",
    "DistributedQVM",
    "NodeProvider",
    "NodeProviderRegistry",
    "NodeType",
    "QPUNodeSpec",
    "QPURegistry",
    "QVMMode",
    "QVMResult",
    "QcosBackend",
    "QcosError",
    "ShotTask",
    "__version__",
]
