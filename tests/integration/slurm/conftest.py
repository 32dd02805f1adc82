"""The executor switch of the Slurm integration tests and their fault folder (Slurm itself: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


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
