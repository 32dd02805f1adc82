"""``lumi_amd_gpu``: LUMI-G (AMD MI250X) settings, small-g per GCD or standard-g whole nodes."""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from qcos.checks import require_int
from qcos.exceptions import SlurmConfigError
from qcos.providers.slurm.options import JobOptions, takes_options
from qcos.providers.slurm.provider import SlurmProvider
from qcos.providers.slurm.settings import SlurmSettings
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


@dataclass(kw_only=True)
class LumiOptions(JobOptions):
    """The ``lumi_amd_gpu`` provider's arguments: the Slurm job options, GPU counts in GCDs.

    ``cpus_per_task``/``mem_gb`` are per GCD (default 7 cores, 60 GB); ``account``
    defaults to ``$SBATCH_ACCOUNT``.
    """

    #: GCDs in use at once, one qcos node each (default: ``n_nodes x gpus_per_node``, or 8)
    gpus: int | None = None
    partition: str = "small-g"
    #: a ``.sif`` built from ``envs/qcos-rocm.def``; tasks run ``singularity exec --rocm`` in it
    container: str | None = None
    container_bind: Sequence[str] | None = None
    n_nodes: int | None = None
    gpus_per_node: int = GCDS_PER_NODE
    max_qubits: int = 34
    job_name: str = "qcos-lumi"
    poll_s: float = 5.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.total_gcds()  # the counts are checked now

    def total_gcds(self) -> int:
        """The one GPU-concurrency number: ``gpus``, or ``n_nodes x gpus_per_node``, or 8."""
        per_node = require_int("gpus_per_node", self.gpus_per_node, maximum=GCDS_PER_NODE, error=SlurmConfigError,
                               what=f"1..{GCDS_PER_NODE} (GCDs per LUMI-G node)")
        for name, value in (("gpus", self.gpus), ("n_nodes", self.n_nodes)):
            if value is not None:
                require_int(name, value, error=SlurmConfigError)
        return self.gpus if self.gpus is not None else (self.n_nodes or 1) * per_node

    def settings(self, *, strict: bool = True) -> SlurmSettings:
        """SlurmSettings for ``total_gcds()`` concurrent GCDs; ``strict``: the account and container must exist."""
        partition, gpus = self.partition, self.total_gcds()
        if partition not in PER_GCD_PARTITIONS + WHOLE_NODE_PARTITIONS:
            raise SlurmConfigError(f"partition={partition!r} is not a LUMI-G partition; use one of "
                                   f"{', '.join(PER_GCD_PARTITIONS + WHOLE_NODE_PARTITIONS)}")
        account = lumi_account(self.account)
        strict = strict and self.executor == "slurm"
        if strict and not account:
            raise SlurmConfigError("LUMI jobs need a project account: export SBATCH_ACCOUNT=project_46500XXXX "
                                   "or set account: in your cluster file")
        values = self.settings_fields() | {"account": account, "python": self._python(strict), "gpu_vendor": "amd",
                                           "setup": self._setup()}
        cores = CORES_PER_GCD if self.cpus_per_task is None else self.cpus_per_task
        if partition in WHOLE_NODE_PARTITIONS:
            if gpus % GCDS_PER_NODE:
                raise SlurmConfigError(f"{partition} allocates whole nodes of {GCDS_PER_NODE} GCDs: gpus must be a "
                                       f"multiple of {GCDS_PER_NODE}, got {gpus}; use small-g for fewer")
            extra = {"exclusive": True, "mem": "0", **values["slurm_extra"]}
            return SlurmSettings(**values | {
                "cpus_per_task": cores * GCDS_PER_NODE, "gpus_per_node": GCDS_PER_NODE, "slurm_extra": extra,
                "array_parallelism": gpus // GCDS_PER_NODE, "gcds_per_task": GCDS_PER_NODE,
                "circuits_per_task": self.circuits_per_task * GCDS_PER_NODE})
        return SlurmSettings(**values | {
            "cpus_per_task": cores, "gpus_per_node": 1, "array_parallelism": gpus,
            "mem_gb": MEM_GB_PER_GCD if self.mem_gb is None else self.mem_gb})

    def _setup(self) -> list[str]:
        """The given setup lines, else the LUMI stack and ROCm (none inside the container)."""
        if self.setup is not None:
            return list(self.setup)
        return [] if self.container else list(LUMI_SETUP)

    def _python(self, strict: bool) -> str | None:
        """The tasks' interpreter: given, else the container's python3, else submitit's default."""
        if not self.container:
            return self.python
        container = os.path.abspath(os.path.expanduser(str(self.container)))
        if strict and not os.path.isfile(container):
            raise SlurmConfigError(f"container {container} does not exist: build it from envs/qcos-rocm.def "
                                   "(docs/lumi.md), or give its path")
        folder = os.path.abspath(os.path.expanduser(str(self.folder)))
        return self.python or container_python(container, [folder, *(self.container_bind or [])])


class LumiAMDGPUProvider(SlurmProvider):
    """LUMI-G (AMD MI250X): one qcos node per GCD (GPU die).

    ``small-g``/``dev-g``: each array task is one GCD (7 cores, 60 GB). ``standard-g``:
    each array task is a whole node whose 8 GCDs run 8 worker processes, each bound to
    its GCD (``ROCR_VISIBLE_DEVICES``) and to that GCD's 7 cores, so no die is billed idle.
    """

    DISPLAY_NAME: ClassVar[str] = "LUMI AMD GPU (Slurm, one node per GCD)"
    ID_PREFIX: ClassVar[str] = "lumi-gpu"
    GPU_VENDOR: ClassVar[str | None] = "amd"

    @takes_options(LumiOptions)
    def build_nodes(self, **kwargs: Any) -> list[QPUNodeSpec]:
        """``gpus`` qcos nodes, one per concurrently running GCD; the arguments are :class:`LumiOptions`' fields.

        ``container``: a ``.sif`` built from ``envs/qcos-rocm.def`` (qiskit-aer compiled
        for ROCm gfx90a); tasks then run ``singularity exec --rocm`` with the submitit
        folder and ``container_bind`` bound. Without it, ``setup`` (default: the LUMI stack
        and ROCm) must provide a ROCm Aer.
        """
        options = LumiOptions.parse(kwargs)
        return self.build_from_settings(options.settings(), n_nodes=options.total_gcds(),
                                        max_qubits=options.max_qubits,
                                        tags=["lumi", "amd", options.partition, *(options.tags or [])],
                                        id_prefix=self.ID_PREFIX, validate=options.validate)

    @classmethod
    def settings_for(cls, *, strict: bool = True, **kwargs: Any) -> tuple[SlurmSettings, int]:
        """The SlurmSettings and node count ``build_nodes(**kwargs)`` would use, building nothing."""
        options = LumiOptions.parse(kwargs)
        return options.settings(strict=strict), options.total_gcds()
