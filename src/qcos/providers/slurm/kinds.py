"""What differs between submitit's Slurm, Local and Debug executors, as one strategy object each.

The dispatcher and the provider pick one :class:`ExecutorKind` from ``settings.executor``
once and ask it; no other module branches on the executor's name.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from qcos.exceptions import SlurmConfigError
from qcos.providers.slurm.folders import private_folder
from qcos.providers.slurm.settings import SlurmSettings
from qcos.providers.slurm.site import site_max_array_size

logger = logging.getLogger(__name__)

#: submitit's sacct watcher is shared by every dispatcher of the process
WATCHER_LOCK = threading.Lock()
#: squeue states of a job that will still run (e.g. a preempted job Slurm requeued)
_QUEUED_STATES = frozenset({"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING",
                            "COMPLETING", "SUSPENDED", "RESIZING", "STAGE_OUT", "SIGNALING"})
#: sbatch messages that mean "cannot reach Slurm" (a health problem), not "bad settings"
_UNREACHABLE = ("unable to contact slurm controller", "socket timed out", "connection refused",
                "could not establish a configuration source", "zero bytes were transmitted")


class ExecutorKind:
    """One executor's behaviour; the defaults are those of tasks run as processes on this machine."""

    name: ClassVar[str] = ""
    #: the jobs run on this machine (GPU checks happen here, not in Slurm)
    runs_here: ClassVar[bool] = True
    #: how long a finished job may lack its result file before it counts as failed
    result_grace_s: ClassVar[float] = 0.5

    def make(self, settings: SlurmSettings, folder: Path) -> Any:
        """The submitit executor, its parameters applied."""
        import submitit

        executor = submitit.LocalExecutor(folder=folder, python=settings.python)
        executor.update_parameters(**settings.local_parameters())
        return executor

    def tick_s(self, settings: SlurmSettings) -> float:
        """The monitor thread's period."""
        return 0.1

    def throttles_here(self) -> bool:
        """Whether qcos must hold back tasks beyond ``array_parallelism`` (no Slurm to do it)."""
        return True

    def array_limit(self, settings: SlurmSettings) -> int | None:
        """The most tasks one submission may carry (None: no limit)."""
        return settings.max_array_size

    def array_ids(self, jobs: Sequence[Any]) -> list[str]:
        """The ids a submission is known by in the stats (and in logs)."""
        return [str(job.job_id) for job in jobs]

    def arrays_note(self, job_ids: Sequence[str]) -> str:
        """The latest array ids, for the progress line ('' where they mean nothing to the user)."""
        return ""

    def refresh(self, jobs: Sequence[Any], settings: SlurmSettings) -> None:
        """Update the cached states of ``jobs`` (one call for all of them)."""

    def immediate_outcome(self, job: Any) -> tuple[str, Any] | None:
        """An outcome known without looking at result files (the debug executor's), else None."""
        return None

    def state(self, job: Any) -> tuple[str, bool]:
        """(the job's state, whether it has finished)."""
        state = str(job.get_info().get("jobState", "UNKNOWN"))
        return state, state != "RUNNING"

    def still_queued(self, job: Any) -> str:
        """The scheduler's live state of a job its accounting calls finished ('' when none)."""
        return ""

    def cancel(self, jobs: Sequence[Any]) -> None:
        for job in jobs:
            try:
                job.cancel(check=False)
            except Exception as error:  # a process that already exited
                logger.debug("cancel %s: %s", getattr(job, "job_id", job), error)

    def progress_state(self, job: Any) -> str:
        """``pending``/``running``/... for the progress line."""
        return "running"

    def health_problem(self, settings: SlurmSettings) -> str | None:
        """Why the provider cannot run jobs now (None: it can)."""
        return None

    def check(self, settings: SlurmSettings, gpu_vendor: str | None, *, validate: bool) -> str | None:
        """Refuse settings that cannot work (SlurmConfigError) before any job exists; a health problem, or None.

        Jobs that run here and ask for GPUs need a GPU-enabled Aer on this machine.
        """
        if settings.device != "GPU":
            return None
        from qcos.workers import simulator

        available, why = simulator.gpu_status(gpu_vendor)
        if not available:
            raise SlurmConfigError(
                f"executor={settings.executor!r} runs on this machine and the settings ask for GPUs, but {why}; "
                "pass aer_device='CPU' to simulate on the CPU"
            )
        return None


class LocalKind(ExecutorKind):
    """submitit's LocalExecutor: the same array tasks as processes on this machine."""

    name = "local"


class DebugKind(ExecutorKind):
    """submitit's DebugExecutor: each task runs in this process when its result is asked for."""

    name = "debug"

    def make(self, settings: SlurmSettings, folder: Path) -> Any:
        import submitit

        return submitit.DebugExecutor(folder=folder)

    def throttles_here(self) -> bool:
        return False

    def immediate_outcome(self, job: Any) -> tuple[str, Any] | None:
        try:
            return "ok", job.submission().result()
        except Exception as error:
            return "failed", f"{type(error).__name__}: {error}"


class SlurmKind(ExecutorKind):
    """Real Slurm: sbatch job arrays, sacct/squeue states, scancel."""

    name = "slurm"
    runs_here = False
    result_grace_s = 5.0  # shared file systems lag

    def make(self, settings: SlurmSettings, folder: Path) -> Any:
        import submitit

        try:
            executor = submitit.SlurmExecutor(folder=folder, python=settings.python)
        except RuntimeError as error:
            raise SlurmConfigError(
                f"executor='slurm' needs the Slurm client commands (srun, sbatch) on this machine: {error}; "
                "run from a cluster login node, or use executor='local' to run the same path here"
            ) from error
        try:
            executor.update_parameters(**settings.slurm_parameters())
        except ValueError as error:
            raise SlurmConfigError(f"invalid Slurm parameters: {error}") from error
        return executor

    def tick_s(self, settings: SlurmSettings) -> float:
        return min(0.5, settings.poll_s)

    def throttles_here(self) -> bool:
        return False

    def array_limit(self, settings: SlurmSettings) -> int | None:
        return settings.max_array_size or site_max_array_size()

    def array_ids(self, jobs: Sequence[Any]) -> list[str]:
        return [str(jobs[0].job_id).split("_")[0]] if jobs else []

    def arrays_note(self, job_ids: Sequence[str]) -> str:
        return ",".join(job_ids[-3:])

    def refresh(self, jobs: Sequence[Any], settings: SlurmSettings) -> None:
        if jobs:
            with WATCHER_LOCK:
                jobs[0].watcher.update()  # one sacct call for every registered job

    def state(self, job: Any) -> tuple[str, bool]:
        with WATCHER_LOCK:
            state = job.watcher.get_state(str(job.job_id), mode="cache")
            finished = job.watcher.is_done(str(job.job_id), mode="cache")
        return str(state), bool(finished)

    def still_queued(self, job: Any) -> str:
        """sacct may still show the previous run of a requeued (preempted) job: ask squeue."""
        try:
            proc = subprocess.run(["squeue", "-h", "-j", str(job.job_id), "-o", "%T"], capture_output=True,
                                  text=True, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError):
            return ""
        states = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
        return next((state for state in states if state in _QUEUED_STATES), "")

    def cancel(self, jobs: Sequence[Any]) -> None:
        ids = [str(job.job_id) for job in jobs]
        try:
            subprocess.run(["scancel", *ids], check=False, capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as error:
            logger.error("scancel %s failed: %s", " ".join(ids), error)

    def progress_state(self, job: Any) -> str:
        with WATCHER_LOCK:
            raw = str(job.watcher.get_state(str(job.job_id), mode="cache")).upper()
        return {"PENDING": "pending", "RUNNING": "running", "UNKNOWN": "submitted"}.get(
            raw.split()[0] if raw else "UNKNOWN", raw.lower() or "submitted")

    def check(self, settings: SlurmSettings, gpu_vendor: str | None, *, validate: bool) -> str | None:
        """With ``validate``, ``sbatch --test-only`` the job's script: Slurm's refusal raises, no answer is a health problem."""
        if not validate:
            return None
        if shutil.which("sbatch") is None:
            raise SlurmConfigError(
                "executor='slurm' needs sbatch on this machine; run from a cluster login node, "
                "or use executor='local' to run the same path here"
            )
        private_folder(settings.folder, "Slurm folder")
        private_folder(settings.jobs_folder, "Slurm jobs folder")
        with tempfile.NamedTemporaryFile("w", suffix=".sh", dir=settings.jobs_folder, delete=False) as handle:
            handle.write(settings.sbatch_script())
            script = Path(handle.name)
        try:
            proc = subprocess.run(["sbatch", "--test-only", str(script)], capture_output=True, text=True,
                                  timeout=60, check=False)
        except (OSError, subprocess.SubprocessError) as error:
            return f"sbatch --test-only failed: {error}"
        finally:
            script.unlink(missing_ok=True)
        if proc.returncode == 0:
            return None
        message = " ".join(line.strip() for line in proc.stderr.splitlines() if line.strip()) or f"exit {proc.returncode}"
        if any(text in message.lower() for text in _UNREACHABLE):
            return f"Slurm is unreachable: {message}"
        where = ", ".join(f"{k}={v!r}" for k, v in (("partition", settings.partition),
                                                    ("account", settings.account)) if v)
        raise SlurmConfigError(f"Slurm rejected the job settings ({where or 'default partition'}): {message}")

    def health_problem(self, settings: SlurmSettings) -> str | None:
        """Slurm unreachable, or the partition missing or down."""
        if shutil.which("sinfo") is None:
            return "sinfo not found: this machine has no Slurm client commands"
        command = ["sinfo", "-h", "-o", "%P %a"] + (["-p", settings.partition] if settings.partition else [])
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError) as error:
            return f"{' '.join(command)} failed: {error}"
        if proc.returncode != 0 or not proc.stdout.split():
            why = proc.stderr.strip() or "no such partition"
            return f"Slurm partition {settings.partition or '(default)'} unavailable: {why}"
        if settings.partition and "up" not in proc.stdout.split():
            return f"Slurm partition {settings.partition!r} is not up: {proc.stdout.strip()}"
        return None


KINDS: dict[str, ExecutorKind] = {kind.name: kind for kind in (SlurmKind(), LocalKind(), DebugKind())}


def executor_kind(settings: SlurmSettings) -> ExecutorKind:
    """The strategy of ``settings.executor`` (validated by SlurmSettings against the same names)."""
    return KINDS[settings.executor]
