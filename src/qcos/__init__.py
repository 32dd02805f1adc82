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
    "QcosError",
    "ShotTask",
    "__version__",
]
