"""Helpers for the Slurm integration tests: run settings, known-answer circuits, sacct."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from helpers import wait_for


def slurm_kwargs(kind: str, folder: Path, **overrides: object) -> dict[str, object]:
    """Provider kwargs for a test run: the gpu partition with one fake GPU per task, Aer on CPU."""
    kwargs: dict[str, object] = {
        "executor": kind,
        "folder": str(folder),
        "aer_device": "CPU",
        "job_name": f"qcos-it-{uuid.uuid4().hex[:8]}",
        "poll_s": 1.0,
        "gather_s": 0.3,
    }
    if kind == "slurm":
        kwargs.update(partition="gpu", gpus_per_task=1, time_min=10)
    kwargs.update(overrides)
    return kwargs


def expected(index: int, shots: int, width: int = 8) -> dict[str, int]:
    return {format(index % (1 << width), f"0{width}b"): shots}


def wait_for_file(folder: Path, pattern: str, timeout_s: float = 90.0) -> Path:
    found = wait_for(lambda: sorted(folder.glob(pattern)), timeout_s, f"{pattern} in {folder}", interval_s=0.1)
    return found[0]


def running_job_id(faults: Path) -> str:
    marker = wait_for_file(faults, "running.*.json")
    return str(json.loads(marker.read_text())["job_id"])


def sacct_rows(job_name: str, expected_rows: int, timeout_s: float = 60.0) -> list[tuple[str, str]]:
    """(JobID, State) of this run's allocations, waiting until slurmdbd has all of them."""
    assert shutil.which("sacct"), "sacct not found"
    rows: list[tuple[str, str]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-a", "-S", "now-2hours", "--name", job_name, "-o", "JobID,State"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout
        rows = [tuple(line.split("|", 1)) for line in out.splitlines() if line.strip()]  # type: ignore[misc]
        if len(rows) >= expected_rows and all(not s.startswith(("PENDING", "RUNNING")) for _, s in rows):
            return rows
        time.sleep(1.0)
    return rows
