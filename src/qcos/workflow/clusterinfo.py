"""What a workflow cluster will ask of the machine, known at parse time: GPUs, sbatch options, limits."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from qcos.exceptions import ConfigError, QcosError

logger = logging.getLogger(__name__)

#: sbatch lines that are bookkeeping, not resources (left out of the rendering)
_BOOKKEEPING = ("--output", "--error", "--open-mode", "--signal", "--wckey")
_SLURM_PROVIDERS = ("slurm", "lumi_amd_gpu")


def slurm_settings(entry: Mapping[str, Any]) -> Any:
    """The SlurmSettings a ``slurm``/``lumi_amd_gpu`` cluster entry dispatches with (None for others)."""
    from qcos.providers.lumi import LumiAMDGPUProvider
    from qcos.providers.slurm.provider import SlurmProvider

    provider = {"slurm": SlurmProvider, "lumi_amd_gpu": LumiAMDGPUProvider}.get(str(entry.get("provider")))
    if provider is None:
        return None
    kwargs = {k: v for k, v in entry.items() if k != "provider"}
    return provider.settings_for(strict=False, **kwargs)[0]


def cluster_gpus(entries: Sequence[Mapping[str, Any]]) -> int:
    """How many GPUs (GCDs on LUMI) one dispatch job keeps busy at most: its ``resources: gpus``."""
    total = 0
    for entry in entries:
        name = entry.get("provider")
        if name in _SLURM_PROVIDERS:
            try:
                settings = slurm_settings(entry)
            except (QcosError, TypeError, ValueError):
                continue  # reported by the cluster check
            per_task = settings.gpus_per_task or settings.gpus_per_node or (1 if settings.gres else 0)
            if settings.device == "GPU":
                total += per_task * settings.array_parallelism
        elif name in ("local_gpu", "local_gpu_aer"):
            total += int(entry.get("n_nodes", 1))
    return total


def sbatch_lines(entry: Mapping[str, Any]) -> list[str]:
    """The ``#SBATCH`` resource lines (and the task command) of one Slurm cluster entry."""
    try:
        settings = slurm_settings(entry)
    except (QcosError, TypeError, ValueError) as error:
        raise ConfigError(f"config: cluster: {entry.get('provider')}: {error}") from error
    if settings is None:
        return []
    script = settings.sbatch_script(command="<qcos array task>")
    lines = [line for line in script.splitlines() if line.startswith("#SBATCH")
             and not any(key in line for key in _BOOKKEEPING)]
    lines.append(f"#SBATCH --array=0-<tasks-1>%{settings.array_parallelism}")
    if settings.account is None and entry.get("provider") == "lumi_amd_gpu":
        lines.append("#   (no --account yet: export SBATCH_ACCOUNT=project_46500XXXX or set account:)")
    lines.extend(f"#   before each task: {line}" for line in settings.setup)
    if settings.gcds_per_task > 1:
        lines.append(f"#   each task: {settings.gcds_per_task} worker processes, one per GCD "
                     "(ROCR_VISIBLE_DEVICES=0..7, bound to that GCD's 7 cores)")
    if settings.python:
        lines.append(f"#   task interpreter: {settings.python}")
    return lines


def describe(entries: Sequence[Mapping[str, Any]], where: str) -> list[str]:
    """Parse-time lines for the Snakemake log: where dispatch goes and with which sbatch options."""
    names = ", ".join(str(e.get("provider")) for e in entries)
    lines = [f"qcos: dispatch jobs use {where}: {names}"]
    for entry in entries:
        if entry.get("provider") in _SLURM_PROVIDERS:
            lines.append(f"qcos: {entry['provider']} array tasks are submitted with:")
            lines.extend(f"qcos:   {line}" for line in sbatch_lines(entry))
    gpus = cluster_gpus(entries)
    if gpus:
        lines.append(f"qcos: each dispatch job holds resources gpus={gpus}; the profile's global "
                     "`resources: gpus=N` caps the GPUs in use at N")
    return lines
