"""The sbatch side of a job's settings: submitit's parameter names, and the ``#SBATCH`` lines they become.

submitit renders its job scripts privately; qcos needs the same lines before any job
exists (``sbatch --test-only`` at build time, the workflow's dry-run printout), so they
are rendered here, in one place, following submitit's documented rules: a parameter
``foo_bar`` is the flag ``--foo-bar``, ``True`` is a bare flag, ``additional_parameters``
adds raw flags, and ``setup`` lines run before the task.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from qcos.exceptions import SlurmConfigError

logger = logging.getLogger(__name__)

#: ``submitit.SlurmExecutor.update_parameters`` names and defaults (submitit 1.5).
#: tests/unit/test_slurm_settings.py checks this against the installed submitit.
SUBMITIT_SLURM_PARAMETERS: Mapping[str, Any] = {
    "job_name": "submitit", "partition": None, "time": 5, "nodes": 1, "ntasks_per_node": None,
    "cpus_per_task": None, "cpus_per_gpu": None, "num_gpus": None, "gpus_per_node": None,
    "gpus_per_task": None, "qos": None, "setup": None, "teardown": None, "mem": None,
    "mem_per_gpu": None, "mem_per_cpu": None, "signal_delay_s": 90, "comment": None,
    "constraint": None, "exclude": None, "account": None, "gres": None, "mail_type": None,
    "mail_user": None, "nodelist": None, "dependency": None, "exclusive": None,
    "array_parallelism": 256, "wckey": "submitit", "stderr_to_stdout": False,
    "additional_parameters": None, "srun_args": None, "use_srun": True,
}
#: parameters that shape the script or the array, not sbatch flags of their own
_NOT_FLAGS = frozenset({"setup", "teardown", "array_parallelism", "signal_delay_s", "stderr_to_stdout",
                        "additional_parameters", "srun_args", "use_srun", "num_gpus"})
#: the signal submitit asks Slurm for before a time-out (its checkpoint signal)
_CHECKPOINT_SIGNAL = "USR2"


def check_parameter_names(params: Mapping[str, Any]) -> None:
    """Refuse names submitit does not know, listing the valid ones (submitit's own wording)."""
    unknown = sorted(set(params) - set(SUBMITIT_SLURM_PARAMETERS))
    if unknown:
        valid = "\n  - ".join(f"{k} (default: {v!r})" for k, v in sorted(SUBMITIT_SLURM_PARAMETERS.items()))
        raise SlurmConfigError(f"invalid Slurm parameters in slurm_extra or settings: Unavailable parameter(s): "
                               f"{unknown}\nValid parameters are:\n  - {valid}")
    extra = params.get("additional_parameters")
    if extra is not None and not isinstance(extra, Mapping):
        raise SlurmConfigError(f"slurm_extra additional_parameters must be a mapping of sbatch flags to values, "
                               f"got {extra!r}")


def sbatch_flags(params: Mapping[str, Any]) -> list[str]:
    """``--name=value`` flags (sorted, values shell-quoted) that sbatch gets for ``params``."""
    flags = {k: v for k, v in params.items() if v is not None and k not in _NOT_FLAGS}
    flags.setdefault("wckey", SUBMITIT_SLURM_PARAMETERS["wckey"])
    if params.get("num_gpus") is not None:  # submitit's legacy name
        flags["gpus_per_node"] = params["num_gpus"]
    delay = params.get("signal_delay_s", SUBMITIT_SLURM_PARAMETERS["signal_delay_s"])
    flags["signal"] = f"{_CHECKPOINT_SIGNAL}@{delay}"
    flags.update(params.get("additional_parameters") or {})
    return [_flag(key, flags[key]) for key in sorted(flags)]


def sbatch_script(params: Mapping[str, Any], command: str = "true") -> str:
    """A batch script with the ``#SBATCH`` lines of ``params``, its setup lines, then ``command``."""
    setup: Sequence[str] = params.get("setup") or ()
    lines = ["#!/bin/bash", "", "# Parameters", *(f"#SBATCH {flag}" for flag in sbatch_flags(params))]
    if setup:
        lines += ["", "# setup", *setup]
    lines += ["", "# command", command, ""]
    return "\n".join(lines)


def _flag(key: str, value: Any) -> str:
    name = key.replace("_", "-")
    return f"--{name}" if value is True else f"--{name}={shlex.quote(str(value))}"
