"""The ``slurm`` provider: chunks of circuits become job-array tasks through submitit.

Imports are lazy so that a Slurm task, which only needs :mod:`qcos.providers.slurm.task`,
does not load the dispatcher.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SlurmSettings": "qcos.providers.slurm.settings",
    "SlurmOptions": "qcos.providers.slurm.options",
    "SlurmDispatcher": "qcos.providers.slurm.executor",
    "DispatchStats": "qcos.providers.slurm.jobs",
    "SlurmProvider": "qcos.providers.slurm.provider",
    "ChunkSpec": "qcos.providers.slurm.task",
    "ChunkRunner": "qcos.providers.slurm.task",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qcos.providers.slurm' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
