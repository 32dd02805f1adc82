"""The executor switch of the Slurm integration tests (Slurm and the fault folder: tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=[pytest.param("slurm", marks=pytest.mark.slurm), "local"])
def executor_kind(request: pytest.FixtureRequest) -> str:
    """The same tests on the real Slurm and on submitit's LocalExecutor (no Slurm needed)."""
    if request.param == "slurm":
        request.getfixturevalue("slurm_service")
    return request.param
