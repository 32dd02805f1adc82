"""The workflow tests' shared reference run (a real snakemake run of a small config)."""

from __future__ import annotations

from pathlib import Path

import pytest
from workflow_helpers import SMALL, run_ok, write_config


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SMALL config run once on one local node; tests copy it rather than rerun it."""
    workdir = tmp_path_factory.mktemp("reference")
    write_config(workdir, SMALL)
    run_ok(workdir)
    return workdir
