"""Profiles as a LUMI user meets them: installed by name, the cluster kept under --config, results shared."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.services import SlurmService
from workflow_helpers import BIN, REPO, SMALL, SNAKEMAKE, results, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

ACCOUNT = "project_465000001"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "SNAKEMAKE_PROFILE")}
    return {**env, "HOME": str(home), "SBATCH_ACCOUNT": ACCOUNT,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def _sbatch_lines(stderr: str) -> list[str]:
    return [line.split("qcos:", 1)[1].strip() for line in stderr.splitlines()
            if line.startswith("qcos:   #SBATCH")]


def test_profiles_install_then_snakemake_profile_lumi_dry_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = _env(home)
    installed = subprocess.run([sys.executable, "-m", "qcos", "profiles", "install"], capture_output=True,
                               text=True, env=env, timeout=120)
    assert installed.returncode == 0, installed.stderr
    target = home / ".config" / "snakemake"
    assert {"local", "slurm", "lumi", "lumi-c"} <= {p.name for p in target.iterdir()}
    again = subprocess.run([sys.executable, "-m", "qcos", "profiles", "install", "lumi"], capture_output=True,
                           text=True, env=env, timeout=120)
    assert again.returncode == 0  # identical files: nothing to force

    def dry_run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([SNAKEMAKE, "--profile", "lumi", "-n", "--forceall", *extra], cwd=REPO,
                              capture_output=True, text=True, env=env, timeout=180)

    small = dry_run("--config", "shots=4096")
    assert small.returncode == 0, small.stderr[-4000:]
    assert f"cluster of profile {target / 'lumi'}" in small.stderr
    small_lines = _sbatch_lines(small.stderr)
    for line in ("#SBATCH --partition=small-g", "#SBATCH --gpus-per-node=1", "#SBATCH --cpus-per-task=7",
                 "#SBATCH --mem=60GB", f"#SBATCH --account={ACCOUNT}", "#SBATCH --array=0-<tasks-1>%8"):
        assert line in small_lines, (line, small_lines)

    cluster = yaml.safe_load((target / "lumi" / "cluster.yaml").read_text())
    cluster["cluster"][0].update(partition="standard-g", gpus=16)
    standard_file = tmp_path / "standard-g.yaml"
    standard_file.write_text(yaml.safe_dump(cluster))
    standard = dry_run("--config", f"cluster_file={standard_file}")
    assert standard.returncode == 0, standard.stderr[-4000:]
    standard_lines = _sbatch_lines(standard.stderr)
    for line in ("#SBATCH --partition=standard-g", "#SBATCH --gpus-per-node=8", "#SBATCH --cpus-per-task=56",
                 "#SBATCH --exclusive", "#SBATCH --array=0-<tasks-1>%2"):
        assert line in standard_lines, (line, standard_lines)

    docs = (REPO / "docs" / "lumi.md").read_text()
    for line in small_lines + standard_lines:  # the walkthrough shows exactly what the dry-run prints
        assert line in docs, f"docs/lumi.md does not show {line!r}"


def test_a_config_naming_another_cluster_fails_instead_of_running_elsewhere(tmp_path: Path) -> None:
    write_config(tmp_path, SMALL)
    other = tmp_path / "mine.yaml"
    other.write_text(yaml.safe_dump({"cluster": [{"provider": "local_cpu", "n_nodes": 3}]}))
    done = subprocess.run([SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--profile",
                           str(REPO / "profiles" / "slurm"), "-n", "--configfile", str(other)],
                          cwd=tmp_path, capture_output=True, text=True, env=_env(tmp_path), timeout=180)
    assert done.returncode != 0
    assert "config: cluster: the config names its own cluster but profile" in done.stderr + done.stdout


@pytest.mark.slurm
def test_profile_slurm_with_config_on_the_command_line_dispatches_to_slurm(tmp_path: Path, slurm_service: SlurmService) -> None:
    """`--profile profiles/slurm --config experiment=x shots=300`: every circuit ran on Slurm nodes."""
    write_config(tmp_path, {**SMALL, "circuits": SMALL["circuits"][:2]})
    done = subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--profile", str(REPO / "profiles" / "slurm"),
         "--cores", "2", "--config", "experiment=x", "shots=300"],
        cwd=tmp_path, capture_output=True, text=True, env=_env(tmp_path), timeout=600,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    records = sorted((results(tmp_path, "x") / "runs").glob("*.json"))
    assert records
    nodes = set()
    for record in records:
        for circuit in json.loads(record.read_text())["circuits"].values():
            nodes.update(circuit["node_ids"])
    assert nodes and all(node.startswith("slurm-") for node in nodes), nodes
    from qcos.results.reader import Results

    assert {record.shots for record in Results(results(tmp_path, "x")).records()} == {300}
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode)
             for p in results(tmp_path, "x").rglob("*") if p.is_file()}
    assert modes and all(mode == 0o644 for mode in modes.values()), {k: oct(v) for k, v in modes.items() if v != 0o644}


def test_a_long_dispatch_job_logs_progress_lines(tmp_path: Path) -> None:
    """A >= 20 s batch (40 chunks of 0.5 s on one mock node) logs 'dispatch: n/40 chunks done' lines."""
    config = {**SMALL, "experiment": "p", "shots": 256, "batch_size": 10,
              "circuits": [{"family": "ghz", "qubits": {"range": [2, 12]}}],
              "dispatch": {"chunk_shots": 64},
              "cluster": [{"provider": "mock", "n_nodes": 1, "latency_s": 0.5}]}
    write_config(tmp_path, config)
    done = subprocess.run([SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--cores", "1"],
                          cwd=tmp_path, capture_output=True, text=True, env=_env(tmp_path), timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    logs = list((tmp_path / "logs" / "p" / "dispatch").glob("*.log"))
    assert len(logs) == 1
    lines = [line for line in logs[0].read_text().splitlines() if "qcos.progress" in line]
    assert lines, logs[0].read_text()[-3000:]
    assert all("/40 chunks done" in line and "busy node(s)" in line for line in lines), lines


@pytest.mark.parametrize(("change", "message"), [
    ({"circuits": [{"family": "ghz", "qubits": [3, 40]}], "cluster": [{"provider": "local_cpu", "max_qubits": 20}]},
     "config: circuits: ghz-q40 (40 qubits) wider than any node of the cluster"),
    ({"transpile": {"basis_gates": ["cx", "rz", "cnot"]}}, "config: transpile.basis_gates[2]: unknown gate 'cnot'"),
])
def test_cluster_mismatches_stop_the_dry_run(tmp_path: Path, change: dict, message: str) -> None:
    write_config(tmp_path, {**SMALL, **change})
    done = subprocess.run([SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n"], cwd=tmp_path,
                          capture_output=True, text=True, env=_env(tmp_path), timeout=180)
    assert done.returncode != 0 and message in done.stdout + done.stderr, done.stderr[-3000:]
