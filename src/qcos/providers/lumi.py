"""``lumi_amd_gpu``: LUMI-G (AMD MI250X) settings, small-g per GCD or standard-g whole nodes."""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Sequence
from typing import Any, ClassVar

from qcos.providers.slurm.provider import SlurmProvider
from qcos.providers.slurm.settings import (
    DEFAULT_CIRCUITS_PER_TASK,
    DEFAULT_FOLDER,
    SlurmConfigError,
    SlurmSettings,
)
from qcos.providers.spec import QPUNodeSpec

logger = logging.getLogger(__name__)

#: LUMI-G nodes: 8 GCDs (4 MI250X), 56 usable cores (7 per GCD), ~480 GB usable memory.
GCDS_PER_NODE = 8
CORES_PER_GCD = 7
MEM_GB_PER_GCD = 60
#: partitions that allocate single GCDs, and the one that allocates whole nodes only
PER_GCD_PARTITIONS = ("small-g", "dev-g")
WHOLE_NODE_PARTITIONS = ("standard-g",)
#: the LUMI software stack and ROCm, loaded before each task when no container is used
LUMI_SETUP = ["module load LUMI partition/G", "module load rocm"]
#: where the account comes from when the cluster file names none (sbatch reads it too)
ACCOUNT_ENV = ("SBATCH_ACCOUNT", "SLURM_ACCOUNT")


def lumi_account(account: str | None) -> str | None:
    """The account given, else ``$SBATCH_ACCOUNT`` / ``$SLURM_ACCOUNT``, else None."""
    if account:
        return str(account)
    return next((os.environ[name] for name in ACCOUNT_ENV if os.environ.get(name)), None)


def container_python(container: str, binds: Sequence[str], runtime: str = "singularity") -> str:
    """The interpreter command of array tasks that run inside the ROCm container."""
    bind = ",".join(dict.fromkeys(str(b) for b in binds if b))
    parts = [runtime, "exec", "--rocm"] + (["--bind", bind] if bind else []) + [container, "python3"]
    return " ".join(shlex.quote(part) for part in parts)


def total_gcds(gpus: int | None, n_nodes: int | None, gpus_per_node: int) -> int:
    """The one GPU-concurrency number: ``gpus``, or ``n_nodes x gpus_per_node``, or 8."""
    if isinstance(gpus_per_node, bool) or not isinstance(gpus_per_node, int) or not 1 <= gpus_per_node <= 8:
        raise SlurmConfigError(f"gpus_per_node must be 1..8 (GCDs per LUMI-G node), got {gpus_per_node!r}")
    for name, value in (("gpus", gpus), ("n_nodes", n_nodes)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise SlurmConfigError(f"{name} must be a positive integer, got {value!r}")
    if gpus is not None:
        return gpus
    return (n_nodes or 1) * gpus_per_node


def lumi_settings(
    *,
    gpus: int,
    partition: str,
    account: str | None,
    cpus_per_task: int | None,
    mem_gb: float | None,
    circuits_per_task: int,
    setup: Sequence[str] | None,
    container: str | None,
    container_bind: Sequence[str] | None,
    slurm_extra: dict[str, Any] | None,
    python: str | None,
    strict: bool = True,
    **common: Any,
) -> SlurmSettings:
    """SlurmSettings for ``gpus`` concurrent GCDs on ``partition`` (``common``: the other settings)."""
    if partition not in PER_GCD_PARTITIONS + WHOLE_NODE_PARTITIONS:
        raise SlurmConfigError(f"partition={partition!r} is not a LUMI-G partition; use one of "
                               f"{', '.join(PER_GCD_PARTITIONS + WHOLE_NODE_PARTITIONS)}")
    account = lumi_account(account)
    if strict and common.get("executor", "slurm") == "slurm" and not account:
        raise SlurmConfigError("LUMI jobs need a project account: export SBATCH_ACCOUNT=project_46500XXXX "
                               "or set account: in your cluster file")
    cores = CORES_PER_GCD if cpus_per_task is None else cpus_per_task
    extra = dict(slurm_extra or {})
    if container:
        container = os.path.abspath(os.path.expanduser(str(container)))
        if strict and common.get("executor", "slurm") == "slurm" and not os.path.isfile(container):
            raise SlurmConfigError(f"container {container} does not exist: build it from envs/qcos-rocm.def "
                                   "(docs/lumi.md), or give its path")
        folder = os.path.abspath(os.path.expanduser(str(common.get("folder", DEFAULT_FOLDER))))
        python = python or container_python(container, [folder, *(container_bind or [])])
    setup_lines = list(setup) if setup is not None else ([] if container else list(LUMI_SETUP))
    if partition in WHOLE_NODE_PARTITIONS:
        if gpus % GCDS_PER_NODE:
            raise SlurmConfigError(f"{partition} allocates whole nodes of {GCDS_PER_NODE} GCDs: gpus must be a "
                                   f"multiple of {GCDS_PER_NODE}, got {gpus}; use small-g for fewer")
        extra = {"exclusive": True, "mem": "0", **extra}
        return SlurmSettings(
            partition=partition, account=account, cpus_per_task=cores * GCDS_PER_NODE,
            gpus_per_node=GCDS_PER_NODE, mem_gb=mem_gb, setup=setup_lines, slurm_extra=extra, python=python,
            array_parallelism=gpus // GCDS_PER_NODE, circuits_per_task=circuits_per_task * GCDS_PER_NODE,
            gcds_per_task=GCDS_PER_NODE, gpu_vendor="amd", **common)
    return SlurmSettings(
        partition=partition, account=account, cpus_per_task=cores, gpus_per_node=1,
        mem_gb=MEM_GB_PER_GCD if mem_gb is None else mem_gb, setup=setup_lines, slurm_extra=extra, python=python,
        array_parallelism=gpus, circuits_per_task=circuits_per_task, gpu_vendor="amd", **common)


class LumiAMDGPUProvider(SlurmProvider):
    """LUMI-G (AMD MI250X): one qcos node per GCD (GPU die).

    ``small-g``/``dev-g``: each array task is one GCD (7 cores, 60 GB). ``standard-g``:
    each array task is a whole node whose 8 GCDs run 8 worker processes, each bound to
    its GCD (``ROCR_VISIBLE_DEVICES``) and to that GCD's 7 cores, so no die is billed idle.
    """

    DISPLAY_NAME: ClassVar[str] = "LUMI AMD GPU (Slurm, one node per GCD)"
    ID_PREFIX: ClassVar[str] = "lumi-gpu"
    GPU_VENDOR: ClassVar[str | None] = "amd"

    def build_nodes(  # type: ignore[override]
        self,
        gpus: int | None = None,
        partition: str = "small-g",
        account: str | None = None,
        container: str | None = None,
        container_bind: Sequence[str] | None = None,
        n_nodes: int | None = None,
        gpus_per_node: int = GCDS_PER_NODE,
        time_min: int = 30,
        mem_gb: float | None = None,
        cpus_per_task: int | None = None,
        max_qubits: int = 34,
        setup: Sequence[str] | None = None,
        slurm_extra: dict[str, Any] | None = None,
        folder: str = DEFAULT_FOLDER,
        executor: str = "slurm",
        circuits_per_task: int = DEFAULT_CIRCUITS_PER_TASK,
        max_retries: int = 2,
        aer_device: str | None = None,
        aer_options: dict[str, Any] | None = None,
        job_name: str = "qcos-lumi",
        progress: bool | None = None,
        poll_s: float = 5.0,
        reuse_results: bool = True,
        python: str | None = None,
        max_array_size: int | None = None,
        tags: Sequence[str] | None = None,
        validate: bool = True,
    ) -> list[QPUNodeSpec]:
        """``gpus`` qcos nodes, one per concurrently running GCD (default 8, or ``n_nodes x gpus_per_node``).

        ``account`` defaults to ``$SBATCH_ACCOUNT``. ``container``: a ``.sif`` built from
        ``envs/qcos-rocm.def`` (qiskit-aer compiled for ROCm gfx90a); tasks then run
        ``singularity exec --rocm`` with the submitit folder and ``container_bind`` bound.
        Without it, ``setup`` (default: the LUMI stack and ROCm) must provide a ROCm Aer.
        ``cpus_per_task``/``mem_gb`` are per GCD (default 7 cores, 60 GB).
        """
        arguments = {name: value for name, value in locals().items() if name not in ("self", "max_qubits", "tags",
                                                                                 "validate")}
        settings, slots = self.settings_for(**arguments)
        if isinstance(max_qubits, bool) or not isinstance(max_qubits, int) or max_qubits < 1:
            raise SlurmConfigError(f"max_qubits must be a positive integer, got {max_qubits!r}")
        return self.build_from_settings(settings, n_nodes=slots, max_qubits=max_qubits,
                                        tags=["lumi", "amd", partition, *(tags or [])], id_prefix=self.ID_PREFIX,
                                        validate=validate)

    @classmethod
    def settings_for(cls, *, strict: bool = True, **kwargs: Any) -> tuple[SlurmSettings, int]:
        """The SlurmSettings and node count ``build_nodes(**kwargs)`` would use, building nothing."""
        import inspect

        bound = inspect.signature(cls.build_nodes).bind_partial(None, **kwargs)
        bound.apply_defaults()
        args = dict(bound.arguments)
        for name in ("self", "max_qubits", "tags", "validate"):
            args.pop(name, None)
        slots = total_gcds(args.pop("gpus"), args.pop("n_nodes"), args.pop("gpus_per_node"))
        args["aer_options"] = dict(args["aer_options"] or {})
        return lumi_settings(gpus=slots, strict=strict, **args), slots
