"""The ``slurm`` provider: nodes that are Slurm task slots fed by submitit job arrays."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from qcos.providers.base import NodeProvider, ShotTask, TaskOutcome
from qcos.providers.slurm.settings import (
    DEFAULT_CIRCUITS_PER_TASK,
    DEFAULT_FOLDER,
    SlurmConfigError,
    SlurmSettings,
)
from qcos.providers.spec import NodeType, QPUNodeSpec

logger = logging.getLogger(__name__)

#: sbatch messages that mean "cannot reach Slurm" (a health problem), not "bad settings".
_UNREACHABLE = ("unable to contact slurm controller", "socket timed out", "connection refused",
                "could not establish a configuration source", "zero bytes were transmitted")


class SlurmProvider(NodeProvider):
    """Nodes backed by Slurm job arrays submitted with submitit.

    Each of the ``n_nodes`` qcos nodes is one concurrent Slurm task slot: the job arrays
    run at most ``array_parallelism`` (default ``n_nodes``) tasks at once. Concurrent
    ``execute_batch`` calls of the nodes are merged into one array, split into tasks of
    at most ``circuits_per_task`` chunks. Node ``weight`` defaults to ``2 * n_nodes`` so
    that the QVM's guided self-scheduling hands these nodes large pulls (a handful of
    sbatch calls per batch) while faster local nodes in the same cluster still get work.
    """

    DISPLAY_NAME: ClassVar[str] = "Slurm job arrays (submitit)"
    ID_PREFIX: ClassVar[str] = "slurm"
    #: the GPU vendor of the compute nodes ("amd"/"nvidia"), None: detected in the task
    GPU_VENDOR: ClassVar[str | None] = None

    def __init__(self) -> None:
        self.settings: SlurmSettings | None = None
        self.dispatcher: Any = None
        self.health_reason = None

    def build_nodes(
        self,
        n_nodes: int = 1,
        partition: str | None = None,
        account: str | None = None,
        time_min: int = 30,
        mem_gb: float | None = None,
        cpus_per_task: int | None = None,
        gpus_per_task: int | None = None,
        gpus_per_node: int | None = None,
        gres: str | None = None,
        max_qubits: int = 30,
        setup: Sequence[str] | None = None,
        slurm_extra: dict[str, Any] | None = None,
        folder: str = DEFAULT_FOLDER,
        executor: str = "slurm",
        circuits_per_task: int = DEFAULT_CIRCUITS_PER_TASK,
        array_parallelism: int | None = None,
        max_retries: int = 2,
        aer_device: str | None = None,
        aer_options: dict[str, Any] | None = None,
        job_name: str = "qcos",
        progress: bool | None = None,
        poll_s: float = 2.0,
        gather_s: float = 0.5,
        reuse_results: bool = True,
        python: str | None = None,
        max_array_size: int | None = None,
        weight: float | None = None,
        tags: Sequence[str] | None = None,
        id_prefix: str | None = None,
        validate: bool = True,
    ) -> list[QPUNodeSpec]:
        """One node per concurrent Slurm task slot; raises ``ValueError`` on bad settings.

        ``slurm_extra`` takes any other submitit Slurm parameter (``qos``, ``constraint``,
        ``exclusive``, ``additional_parameters`` for raw sbatch flags, ...); unknown names
        are refused with the list of valid ones. ``executor='local'`` or ``'debug'`` runs
        the same path on this machine through submitit's Local/DebugExecutor. With
        ``validate`` (default) and executor ``slurm``, ``sbatch --test-only`` checks the
        partition, account and resources now, so a bad one fails before any work is queued.
        ``max_array_size`` caps the tasks of one array (default: the site's ``MaxArraySize``
        from ``scontrol show config``); larger submissions are split into several arrays.
        """
        if isinstance(n_nodes, bool) or not isinstance(n_nodes, int) or n_nodes < 1:
            raise SlurmConfigError(f"n_nodes must be a positive integer, got {n_nodes!r}")
        if isinstance(max_qubits, bool) or not isinstance(max_qubits, int) or max_qubits < 1:
            raise SlurmConfigError(f"max_qubits must be a positive integer, got {max_qubits!r}")
        settings = SlurmSettings(
            partition=partition, account=account, time_min=time_min, mem_gb=mem_gb,
            cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task, gpus_per_node=gpus_per_node,
            gres=gres, setup=list(setup or []), slurm_extra=dict(slurm_extra or {}), folder=folder,
            executor=executor, job_name=job_name, circuits_per_task=circuits_per_task,
            array_parallelism=array_parallelism if array_parallelism is not None else n_nodes,
            max_retries=max_retries, aer_device=aer_device, aer_options=dict(aer_options or {}),
            progress=progress, poll_s=poll_s, gather_s=gather_s, reuse_results=reuse_results, python=python,
            gpu_vendor=self.GPU_VENDOR, max_array_size=max_array_size,
        )
        return self.build_from_settings(settings, n_nodes=n_nodes, max_qubits=max_qubits, weight=weight,
                                        tags=tags, id_prefix=id_prefix, validate=validate)

    def build_from_settings(
        self,
        settings: SlurmSettings,
        *,
        n_nodes: int,
        max_qubits: int,
        weight: float | None = None,
        tags: Sequence[str] | None = None,
        id_prefix: str | None = None,
        validate: bool = True,
    ) -> list[QPUNodeSpec]:
        """``n_nodes`` task slots dispatched with ``settings`` (checked with sbatch when ``validate``)."""
        executor, partition = settings.executor, settings.partition
        if validate and executor == "slurm":
            self._validate_with_sbatch(settings)
        if executor in ("local", "debug") and settings.device == "GPU":
            from qcos.workers import simulator

            available, why = simulator.gpu_status(self.GPU_VENDOR)
            if not available:
                raise SlurmConfigError(
                    f"executor={executor!r} runs on this machine and the settings ask for GPUs, but {why}; "
                    "pass aer_device='CPU' to simulate on the CPU"
                )
        from qcos.providers.slurm.executor import SlurmDispatcher

        if self.dispatcher is not None:
            self.dispatcher.close()
        self.settings = settings
        self.dispatcher = SlurmDispatcher(settings)
        prefix = id_prefix or self.ID_PREFIX
        node_tags = ["slurm", f"executor:{executor}"] + ([f"partition:{partition}"] if partition else [])
        node_tags += ["gpu"] if settings.asks_gpu else []
        node_tags += list(tags or [])
        return [
            QPUNodeSpec(
                node_id=f"{prefix}-{i}",
                node_type=NodeType.SLURM,
                max_qubits=max_qubits,
                tags=list(node_tags),
                capacity=1,
                weight=float(weight) if weight is not None else float(2 * n_nodes),
                options=settings.describe() | {"slot": i},
            )
            for i in range(n_nodes)
        ]

    def execute_batch(self, tasks: Sequence[ShotTask], node_spec: QPUNodeSpec) -> list[TaskOutcome]:
        """Run the tasks as job-array tasks; one outcome (counts or exception) per task."""
        if self.dispatcher is None:
            raise SlurmConfigError("SlurmProvider.execute_batch called before build_nodes()")
        return self.dispatcher.run(tasks, node_spec.node_id)

    def health_check(self) -> bool:
        """False when Slurm is unreachable or the partition is missing/down (reason in health_reason)."""
        if self.health_reason:
            return False
        settings = self.settings
        if settings is None or settings.executor != "slurm":
            return True
        if shutil.which("sinfo") is None:
            self.health_reason = "sinfo not found: this machine has no Slurm client commands"
            return False
        command = ["sinfo", "-h", "-o", "%P %a"] + (["-p", settings.partition] if settings.partition else [])
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError) as error:
            self.health_reason = f"{' '.join(command)} failed: {error}"
            return False
        lines = proc.stdout.split()
        if proc.returncode != 0 or not lines:
            why = proc.stderr.strip() or "no such partition"
            self.health_reason = f"Slurm partition {settings.partition or '(default)'} unavailable: {why}"
            return False
        if settings.partition and "up" not in proc.stdout.split():
            self.health_reason = f"Slurm partition {settings.partition!r} is not up: {proc.stdout.strip()}"
            return False
        return True

    def close(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.close()

    def progress_line(self) -> str | None:
        """Array tasks pending/running in Slurm, for the dispatch's progress lines."""
        return self.dispatcher.progress_line() if self.dispatcher is not None else None

    @property
    def stats(self) -> dict[str, Any]:
        """Dispatch counters (sbatch calls, array tasks, retries, ...) for this provider."""
        return self.dispatcher.stats.as_dict() if self.dispatcher is not None else {}

    def _validate_with_sbatch(self, settings: SlurmSettings) -> None:
        """``sbatch --test-only`` the exact script submitit would submit; raise on rejection."""
        if shutil.which("sbatch") is None:
            raise SlurmConfigError(
                "executor='slurm' needs sbatch on this machine; run from a cluster login node, "
                "or use executor='local' to run the same path here"
            )
        from qcos.providers.slurm.folders import private_folder

        private_folder(settings.folder, "Slurm folder")
        private_folder(settings.jobs_folder, "Slurm jobs folder")
        with tempfile.NamedTemporaryFile("w", suffix=".sh", dir=settings.jobs_folder, delete=False) as handle:
            handle.write(settings.sbatch_script())
            script = Path(handle.name)
        try:
            proc = subprocess.run(["sbatch", "--test-only", str(script)], capture_output=True, text=True,
                                  timeout=60, check=False)
        except (OSError, subprocess.SubprocessError) as error:
            self.health_reason = f"sbatch --test-only failed: {error}"
            return
        finally:
            script.unlink(missing_ok=True)
        if proc.returncode == 0:
            return
        message = " ".join(line.strip() for line in proc.stderr.splitlines() if line.strip()) or f"exit {proc.returncode}"
        if any(text in message.lower() for text in _UNREACHABLE):
            self.health_reason = f"Slurm is unreachable: {message}"
            logger.warning("%s", self.health_reason)
            return
        where = ", ".join(f"{k}={v!r}" for k, v in (("partition", settings.partition),
                                                    ("account", settings.account)) if v)
        raise SlurmConfigError(f"Slurm rejected the job settings ({where or 'default partition'}): {message}")

