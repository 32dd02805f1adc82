"""A real single-node Slurm for the session (tests/services/slurm-up.sh) and the executor switch."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Set by .ci/run: a test that needs Slurm must fail, not skip, when it is missing.
REQUIRE_SERVICES = os.environ.get("QCOS_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (QCOS_REQUIRE_SERVICES=1: services are required here)")
    pytest.skip(reason)


ROOT = Path(__file__).resolve().parents[3]
UP = ROOT / "tests" / "services" / "slurm-up.sh"
DOWN = ROOT / "tests" / "services" / "slurm-down.sh"


@dataclass(frozen=True)
class SlurmService:
    state_dir: Path
    started_here: bool


@pytest.fixture(scope="session")
def slurm_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmService]:
    """Start Slurm once per session (or reuse a running one); stop it at the end if we started it."""
    if os.geteuid() != 0:
        skip_or_fail("the test Slurm runs its daemons as root; run the tests as root (`make test`)")
    state_dir = Path(os.environ.get("QCOS_SLURM_DIR", "/tmp/qcos-slurm"))
    env = dict(os.environ, QCOS_SLURM_DIR=str(state_dir))
    try:
        proc = subprocess.run(["bash", str(UP)], capture_output=True, text=True, timeout=240, env=env, check=False)
    except subprocess.TimeoutExpired:
        skip_or_fail(f"{UP} did not finish within 240 s; see logs in {state_dir}/log")
    if proc.returncode == 3:
        skip_or_fail(f"Slurm is not installed ({proc.stderr.strip()}); `make test` as root installs it")
    if proc.returncode != 0:
        skip_or_fail(f"{UP} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    started_here = "reused" not in proc.stdout
    yield SlurmService(state_dir, started_here)
    if started_here and os.environ.get("QCOS_KEEP_SLURM") != "1":
        subprocess.run(["bash", str(DOWN)], capture_output=True, text=True, timeout=120, env=env, check=False)


@pytest.fixture(params=[pytest.param("slurm", marks=pytest.mark.slurm), "local"])
def executor_kind(request: pytest.FixtureRequest) -> str:
    """The same tests on the real Slurm and on submitit's LocalExecutor (no Slurm needed)."""
    if request.param == "slurm":
        request.getfixturevalue("slurm_service")
    return request.param


@pytest.fixture
def faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test-fault folder the tasks read (the jobs inherit the environment)."""
    folder = tmp_path / "faults"
    folder.mkdir()
    monkeypatch.setenv("QCOS_SLURM_TEST_FAULTS", str(folder))
    return folder
