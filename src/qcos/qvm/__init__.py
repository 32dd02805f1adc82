"""The distributed virtual QPU: chunked, reproducible, fault-tolerant runs over a cluster."""

from qcos.qvm.distributed import DEFAULT_CHUNK_SHOTS, DistributedQVM
from qcos.qvm.modes import QVMMode
from qcos.qvm.result import BatchResult, ChunkRecord, QVMResult

__all__ = ["DEFAULT_CHUNK_SHOTS", "BatchResult", "ChunkRecord", "DistributedQVM", "QVMMode", "QVMResult"]
