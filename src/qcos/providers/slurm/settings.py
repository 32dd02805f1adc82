"""Slurm dispatch settings: validated once, turned into submitit parameters in one place."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qcos.checks import require_int
from qcos.exceptions import SlurmConfigError
from qcos.providers.slurm.sbatch import check_parameter_names, sbatch_script

logger = logging.getLogger(__name__)

EXECUTORS = ("slurm", "local", "debug")
AER_DEVICES = ("GPU", "CPU")

#: Circuits (chunks of shots) per array task: enough that a task outlives its start-up
#: cost (queueing, ``module load``, Python and Qiskit imports, seconds on LUMI).
DEFAULT_CIRCUITS_PER_TASK = 50
DEFAULT_FOLDER = ".qcos/slurm"


@dataclass(kw_only=True)
class JobFields:
    """Job settings that the dispatcher and every Slurm-based provider's arguments share, listed once."""

    account: str | None = None
    time_min: int = 30
    mem_gb: float | None = None
    cpus_per_task: int | None = None
    folder: str = DEFAULT_FOLDER
    executor: str = "slurm"
    job_name: str = "qcos"
    circuits_per_task: int = DEFAULT_CIRCUITS_PER_TASK
    max_retries: int = 2
    aer_device: str | None = None
    progress: bool | None = None
    poll_s: float = 2.0
    reuse_results: bool = True
    python: str | None = None
    max_array_size: int | None = None


@dataclass(kw_only=True)
class SlurmResources:
    """What a task of the generic ``slurm`` provider asks of Slurm beyond the shared job fields."""

    partition: str | None = None
    gpus_per_task: int | None = None
    gpus_per_node: int | None = None
    gres: str | None = None
    gather_s: float = 0.5


@dataclass(kw_only=True)
class SlurmSettings(JobFields, SlurmResources):
    """Everything the dispatcher needs, validated; see ``SlurmProvider.build_nodes`` for the meaning."""

    setup: list[str] = field(default_factory=list)
    slurm_extra: dict[str, Any] = field(default_factory=dict)
    aer_options: dict[str, Any] = field(default_factory=dict)
    array_parallelism: int = 1
    max_cancel_resubmits: int = 1
    gpu_vendor: str | None = None
    gcds_per_task: int = 1

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise SlurmConfigError(f"executor={self.executor!r} is not one of {', '.join(EXECUTORS)}")
        for name in ("time_min", "circuits_per_task", "array_parallelism"):
            require_int(name, getattr(self, name), error=SlurmConfigError)
        for name in ("cpus_per_task", "gpus_per_task", "gpus_per_node", "max_array_size", "gcds_per_task"):
            if getattr(self, name) is not None:
                require_int(name, getattr(self, name), error=SlurmConfigError)
        for name in ("max_retries", "max_cancel_resubmits"):
            require_int(name, getattr(self, name), minimum=0, error=SlurmConfigError)
        if self.mem_gb is not None and not (isinstance(self.mem_gb, (int, float)) and self.mem_gb > 0):
            raise SlurmConfigError(f"mem_gb must be a positive number of GB, got {self.mem_gb!r}")
        lines: object = self.setup
        if isinstance(lines, str):  # one line given as a string
            lines = [lines]
        if not isinstance(lines, Sequence) or not all(isinstance(line, str) for line in lines):
            raise SlurmConfigError(f"setup must be a list of shell lines, got {self.setup!r}")
        self.setup = list(lines)
        if not isinstance(self.slurm_extra, Mapping):
            raise SlurmConfigError(f"slurm_extra must be a mapping of submitit Slurm parameters, got {self.slurm_extra!r}")
        self.slurm_extra = dict(self.slurm_extra)
        if self.aer_device is not None:
            device = str(self.aer_device).upper()
            if device not in AER_DEVICES:
                raise SlurmConfigError(f"aer_device={self.aer_device!r} is not one of {', '.join(AER_DEVICES)}")
            self.aer_device = device
        if not self.poll_s > 0 or self.gather_s < 0:
            raise SlurmConfigError("poll_s must be > 0 and gather_s >= 0")
        self.folder = os.path.abspath(os.path.expanduser(str(self.folder)))
        self.validate_slurm_parameters()

    # -- derived ----------------------------------------------------------
    @property
    def asks_gpu(self) -> bool:
        """Whether the job requests GPUs (then Aer runs on the GPU unless aer_device says CPU)."""
        return bool(self.gpus_per_task or self.gpus_per_node or (self.gres and "gpu" in self.gres))

    @property
    def device(self) -> str:
        return self.aer_device or ("GPU" if self.asks_gpu else "CPU")

    def task_aer_options(self) -> dict[str, Any]:
        """Aer options the array tasks use (validated; device resolved)."""
        from qcos.workers import simulator

        options = simulator.validate_options(dict(self.aer_options), where="slurm aer_options")
        options["device"] = self.device
        if self.device == "CPU" and self.cpus_per_task:
            options.setdefault("max_parallel_threads", self.cpus_per_task)
        return options

    @property
    def jobs_folder(self) -> Path:
        return Path(self.folder) / "jobs"

    @property
    def results_folder(self) -> Path:
        return Path(self.folder) / "results"

    def slurm_parameters(self) -> dict[str, Any]:
        """Parameters for ``submitit.SlurmExecutor.update_parameters`` (sbatch flags)."""
        params: dict[str, Any] = {
            "job_name": self.job_name,
            "time": int(self.time_min),
            "nodes": 1,
            "ntasks_per_node": 1,
            "array_parallelism": int(self.array_parallelism),
        }
        optional = {
            "partition": self.partition,
            "account": self.account,
            "cpus_per_task": self.cpus_per_task,
            "gpus_per_task": self.gpus_per_task,
            "gpus_per_node": self.gpus_per_node,
            "gres": self.gres,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        if self.mem_gb is not None:
            mem = float(self.mem_gb)
            params["mem"] = f"{int(mem)}GB" if mem == int(mem) else f"{int(mem * 1024)}MB"
        if self.setup:
            params["setup"] = list(self.setup)
        params.update(self.slurm_extra)
        return params

    def local_parameters(self) -> dict[str, Any]:
        """Parameters for ``submitit.LocalExecutor`` (the same run on this machine)."""
        params: dict[str, Any] = {"timeout_min": int(self.time_min), "tasks_per_node": 1}
        if self.setup:
            params["setup"] = list(self.setup)
        return params

    def validate_slurm_parameters(self) -> None:
        """Refuse sbatch parameters submitit does not know, listing the valid names."""
        check_parameter_names(self.slurm_parameters())

    def sbatch_script(self, command: str = "true") -> str:
        """The batch script of these settings' sbatch flags and setup lines (for ``--test-only``)."""
        return sbatch_script(self.slurm_parameters(), command)

    def describe(self) -> dict[str, Any]:
        """JSON-ready, for node options and provenance."""
        return {
            "executor": self.executor,
            "partition": self.partition,
            "account": self.account,
            "time_min": self.time_min,
            "gpus_per_task": self.gpus_per_task,
            "gpus_per_node": self.gpus_per_node,
            "gres": self.gres,
            "circuits_per_task": self.circuits_per_task,
            "array_parallelism": self.array_parallelism,
            "aer_device": self.device,
            "folder": self.folder,
        }

