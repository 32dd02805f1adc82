"""Helpers for the workflow tests: run real `snakemake` subprocesses in temporary folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")

BELL = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0], q[1];\nmeasure q -> c;\n'

#: 9 circuits in 5 batches (ghz: 3 + 1, random, qaoa_ring, qasm): small enough for seconds
SMALL: dict[str, Any] = {
    "experiment": "t",
    "seed": 7,
    "shots": 256,
    "batch_size": 3,
    "circuits": [
        {"family": "ghz", "qubits": [2, 3, 4, 5]},
        {"family": "random", "qubits": 3, "depth": 2, "instances": 2},
        {"family": "qaoa_ring", "qubits": 4, "gamma": [0.5], "beta": [0.2, 0.4]},
        {"family": "qasm", "path": "config/circuits/*.qasm"},
    ],
    "cluster": [{"provider": "local_cpu", "n_nodes": 1}],
}


def write_config(workdir: Path, config: dict[str, Any]) -> Path:
    """``<workdir>/config/config.yaml`` (what the workflow's configfile directive reads) plus a qasm file."""
    (workdir / "config" / "circuits").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "circuits" / "bell.qasm").write_text(BELL)
    path = workdir / "config" / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, timeout: float = 240, snakefile: bool = True) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir`` with the repository's workflow; output captured as text."""
    command = [SNAKEMAKE]
    if snakefile:
        command += ["-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    command += list(args)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)


def run_ok(workdir: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    done = snakemake(workdir, "--cores", "2", *args, timeout=timeout)
    assert done.returncode == 0, f"snakemake failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return done


def results(workdir: Path, experiment: str = "t") -> Path:
    return workdir / "results" / experiment


def snapshot(directory: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file below ``directory``."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def copy_run(source: Path, target: Path) -> Path:
    """A finished run folder, Snakemake metadata and mtimes included (locks excluded)."""
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    return target
