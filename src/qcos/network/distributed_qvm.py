"""Alias of the original ``network.distributed_qvm`` module."""

from qcos.providers import NodeType, QPUNodeSpec
from qcos.qvm import DistributedQVM, QVMMode, QVMResult

__all__ = ["DistributedQVM", "NodeType", "QPUNodeSpec", "QVMMode", "QVMResult"]
