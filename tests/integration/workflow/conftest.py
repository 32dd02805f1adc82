"""The workflow tests' shared reference run (a real snakemake run of a small config)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from workflow_helpers import REPO, SMALL, run_ok, write_config

SERVICES = REPO / "tests" / "services"


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SMALL config run once on one local node; tests copy it rather than rerun it."""
    workdir = tmp_path_factory.mktemp("reference")
    write_config(workdir, SMALL)
    run_ok(workdir)
    return workdir


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("QCOS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (QCOS_REQUIRE_SERVICES=1: services are required here)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm_up() -> Iterator[None]:
    """A real single-node Slurm (tests/services/slurm-up.sh, reused when running); stopped if started here."""
    if os.geteuid() != 0:
        _skip_or_fail("the test Slurm runs its daemons as root; run the tests as root (`make test`)")
    env = dict(os.environ, QCOS_SLURM_DIR=os.environ.get("QCOS_SLURM_DIR", "/tmp/qcos-slurm"))
    try:
        done = subprocess.run(["bash", str(SERVICES / "slurm-up.sh")], capture_output=True, text=True,
                              timeout=240, env=env, check=False)
    except subprocess.TimeoutExpired:
        _skip_or_fail("tests/services/slurm-up.sh did not finish within 240 s")
    if done.returncode == 3:
        _skip_or_fail(f"Slurm is not installed ({done.stderr.strip()}); `make test` as root installs it")
    if done.returncode != 0:
        _skip_or_fail(f"slurm-up.sh failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    started_here = "reused" not in done.stdout
    yield
    if started_here and os.environ.get("QCOS_KEEP_SLURM") != "1":
        subprocess.run(["bash", str(SERVICES / "slurm-down.sh")], capture_output=True, text=True,
                       timeout=120, env=env, check=False)
