"""Slurm GPU dispatch through submitit: chunks of circuits become job-array tasks.

Imports are lazy so that a Slurm task, which only needs :mod:`qcos.dispatch.slurm.task`,
does not load the dispatcher.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SlurmSettings": "qcos.dispatch.slurm.settings",
    "SlurmConfigError": "qcos.dispatch.slurm.settings",
    "SlurmDispatcher": "qcos.dispatch.slurm.executor",
    "DispatchStats": "qcos.dispatch.slurm.executor",
    "SlurmProvider": "qcos.dispatch.slurm.provider",
    "LumiAMDGPUProvider": "qcos.dispatch.slurm.lumi",
    "ChunkSpec": "qcos.dispatch.slurm.task",
    "ChunkRunner": "qcos.dispatch.slurm.task",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qcos.dispatch.slurm' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
