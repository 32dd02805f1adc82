"""How a DistributedQVM runs its chunks."""

from __future__ import annotations

from enum import StrEnum


class QVMMode(StrEnum):
    """``EMULATED``: each node runs whole circuits, shots split into chunks across nodes.

    ``LOCAL``: ignore the providers and run every chunk in this process on the built-in
    Aer executor, with the same chunk seeds (a reference to compare a cluster against).
    """

    EMULATED = "emulated"
    LOCAL = "local"
