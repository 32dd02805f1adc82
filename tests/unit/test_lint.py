"""The code passes ruff and mypy --strict as configured in pyproject.toml (snakemake --lint/snakefmt: workflow tests)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str | None:
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


def test_ruff_is_clean():
    ruff = _tool("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed: pip install -e '.[test]'")
    result = subprocess.run([ruff, "check", "src", "tests", "bench", "workflow/scripts"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean():
    """``mypy`` with the [tool.mypy] settings (strict, src/qcos): a type error fails the suite."""
    mypy = _tool("mypy")
    assert mypy is not None, "mypy is not installed: pip install -e '.[test]' (it brings mypy and the typing stubs)"
    result = subprocess.run([mypy], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
