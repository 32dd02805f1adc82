"""The Snakemake workflow end to end, as real `snakemake` runs in temporary folders."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from workflow_helpers import (
    BIN,
    REPO,
    SMALL,
    SNAKEMAKE,
    copy_run,
    results,
    run_ok,
    snakemake,
    snapshot,
    write_config,
)

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def jobs_of(output: str) -> dict[str, int]:
    """The 'Job stats' table of a snakemake run or dry-run."""
    table = output.split("Job stats:", 1)[1] if "Job stats:" in output else ""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE) if m.group(1) != "total"}


def run_record(workdir: Path, batch: str) -> dict:
    return json.loads((results(workdir) / "runs" / f"{batch}.json").read_text())


def test_end_to_end_outputs(reference_run: Path) -> None:
    out = results(reference_run)
    ids = ["ghz-q2", "ghz-q3", "ghz-q4", "ghz-q5", "random-q3-d2-i0", "random-q3-d2-i1",
           "qaoa_ring-q4-g0.5-b0.2", "qaoa_ring-q4-g0.5-b0.4", "qasm-bell"]
    assert sorted(p.stem for p in (out / "counts").glob("*.json")) == sorted(ids)
    assert sorted(p.stem for p in (out / "qasm").glob("*.qasm")) == sorted(ids)
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "batch-00-0000.json", "batch-00-0001.json", "batch-01-0000.json", "batch-02-0000.json", "batch-03-0000.json",
    ]
    counts = json.loads((out / "counts" / "ghz-q3.json").read_text())
    assert counts["shots"] == 256 and counts["seed"] == 7 and set(counts["counts"]) <= {"000", "111"}
    assert sum(counts["counts"].values()) == 256 and counts["versions"]["qiskit"]
    assert (out / "qasm" / "ghz-q3.qasm").read_text().startswith("OPENQASM 3.0;")
    with (out / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["circuit_id"] for r in rows] == ids
    assert all(float(r["hellinger_fidelity"]) > 0.9 for r in rows)
    assert rows[0]["params"] == "qubits=2" and rows[0]["top_outcome"] in ("00", "11")
    runtimes = (out / "runtimes.csv").read_text().splitlines()
    assert len(runtimes) == 10 and "local-cpu-0" in runtimes[1]
    for plot in ("fidelity", "top_outcome", "runtime"):
        assert (out / "plots" / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["seed"] == 7 and provenance["n_circuits"] == 9 and len(provenance["config_sha256"]) == 64
    assert provenance["packages"]["qiskit-aer"] and provenance["cluster"] == [{"provider": "local_cpu", "n_nodes": 1}]
    assert json.loads((out / "collected.json").read_text())["n_circuits"] == 9
    again = snakemake(reference_run, "--cores", "2", "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_rerun_elsewhere_with_another_cluster_shape_is_byte_identical(reference_run: Path, tmp_path: Path) -> None:
    write_config(tmp_path, {**SMALL, "cluster": [{"provider": "local_cpu", "n_nodes": 2}], "batch_size": 3})
    run_ok(tmp_path)
    for name in ("counts", "qasm"):
        assert snapshot(results(tmp_path) / name) == snapshot(results(reference_run) / name)
    for name in ("summary.csv", "plan.json", "collected.json"):
        assert (results(tmp_path) / name).read_bytes() == (results(reference_run) / name).read_bytes()
    assert "local-cpu-1" in (results(tmp_path) / "runtimes.csv").read_text()


def test_slurm_provider_local_executor_gives_the_same_counts(reference_run: Path, tmp_path: Path) -> None:
    """cluster: [{provider: slurm, executor: local}] - the Slurm path through submitit, no Slurm needed."""
    cluster = [{"provider": "slurm", "executor": "local", "n_nodes": 2, "folder": str(tmp_path / "submitit")}]
    write_config(tmp_path, {**SMALL, "cluster": cluster})
    run_ok(tmp_path)
    assert snapshot(results(tmp_path) / "counts") == snapshot(results(reference_run) / "counts")
    assert (results(tmp_path) / "summary.csv").read_bytes() == (results(reference_run) / "summary.csv").read_bytes()
    assert "slurm-" in (results(tmp_path) / "runtimes.csv").read_text()


@pytest.mark.slurm
def test_real_slurm_gives_the_same_counts(reference_run: Path, tmp_path: Path, slurm_up: None) -> None:
    """cluster: [{provider: slurm}] on a real slurmctld: every batch becomes a job array."""
    cluster = [{"provider": "slurm", "partition": "cpu", "n_nodes": 2, "folder": str(tmp_path / "submitit"),
                "time_min": 10, "poll_s": 1.0, "gather_s": 0.3, "aer_device": "CPU"}]
    workdir = tmp_path / "run"
    workdir.mkdir()
    write_config(workdir, {**SMALL, "cluster": cluster})
    run_ok(workdir)
    assert snapshot(results(workdir) / "counts") == snapshot(results(reference_run) / "counts")
    assert (results(workdir) / "summary.csv").read_bytes() == (results(reference_run) / "summary.csv").read_bytes()
    assert list((tmp_path / "submitit").rglob("*_log.out")), "no Slurm task logs: did the jobs go through Slurm?"


def test_adding_a_sweep_point_reruns_only_the_new_circuit(reference_run: Path, tmp_path: Path) -> None:
    workdir = copy_run(reference_run, tmp_path / "run")
    before = snapshot(results(workdir) / "counts")
    mtimes = {p.name: p.stat().st_mtime_ns for p in (results(workdir) / "counts").iterdir()}
    grown = {**SMALL, "circuits": [{"family": "ghz", "qubits": [2, 3, 4, 5, 6]}, *SMALL["circuits"][1:]]}
    write_config(workdir, grown)
    planned = jobs_of(snakemake(workdir, "--cores", "2", "-n").stdout)
    assert planned == {"plan": 1, "transpile_batch_00_0001": 1, "dispatch_batch_00_0001": 1, "collect": 1,
                       "aggregate": 1, "provenance": 1, "default": 1}
    run_ok(workdir)
    record = run_record(workdir, "batch-00-0001")
    assert record["simulated"] == ["ghz-q6"] and record["reused"] == ["ghz-q5"]
    after = snapshot(results(workdir) / "counts")
    assert set(after) - set(before) == {"ghz-q6.json"}
    assert all(after[name] == data for name, data in before.items())
    untouched = [n for n in mtimes if n != "ghz-q5.json"]
    assert all((results(workdir) / "counts" / n).stat().st_mtime_ns == mtimes[n] for n in untouched)
    assert "Nothing to be done" in snakemake(workdir, "--cores", "2", "-n").stdout


def test_deleted_counts_files_are_redone_alone(reference_run: Path, tmp_path: Path) -> None:
    workdir = copy_run(reference_run, tmp_path / "run")
    before = snapshot(results(workdir) / "counts")
    (results(workdir) / "counts" / "random-q3-d2-i1.json").unlink()
    planned = jobs_of(snakemake(workdir, "--cores", "2", "-n").stdout)
    assert {k for k in planned if k.startswith(("dispatch", "transpile"))} == {"dispatch_batch_01_0000"}
    run_ok(workdir)
    assert run_record(workdir, "batch-01-0000")["simulated"] == ["random-q3-d2-i1"]
    assert snapshot(results(workdir) / "counts") == before


def test_killed_run_resumes_and_matches(reference_run: Path, tmp_path: Path) -> None:
    write_config(tmp_path, SMALL)
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--cores", "1"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    counts = results(tmp_path) / "counts"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if counts.is_dir() and any(counts.glob("*.json")):
                break
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the whole run: snakemake and its job processes
        process.wait(timeout=30)
    done_before = {p.name for p in counts.glob("*.json")} if counts.is_dir() else set()
    assert len(done_before) < 9, "the run finished before it could be killed"
    assert not list(counts.glob(".*.tmp")) if counts.is_dir() else True  # atomic writes: no torn files
    snakemake(tmp_path, "--unlock")
    run_ok(tmp_path, "--rerun-incomplete")
    assert snapshot(results(tmp_path) / "counts") == snapshot(results(reference_run) / "counts")
    assert (results(tmp_path) / "summary.csv").read_bytes() == (results(reference_run) / "summary.csv").read_bytes()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"circuits": [{"family": "ghzz", "qubits": [3]}]},
         "config: circuits[0].family: unknown family 'ghzz'; known families: ghz, qaoa_ring, qasm, qft, random"),
        ({"shots": -5}, "config: shots: -5 is less than the minimum of 1"),
        ({"batch_sise": 5}, "config: unknown key 'batch_sise' (did you mean 'batch_size'?)"),
        ({"circuits": [{"family": "ghz", "qubits": [3, -3]}]}, "config: circuits[0].qubits[1]: -3 is less than the minimum of 1"),
    ],
)
def test_bad_config_stops_before_any_job(tmp_path: Path, change: dict, message: str) -> None:
    write_config(tmp_path, {**SMALL, **change})
    done = snakemake(tmp_path, "--cores", "2")
    assert done.returncode != 0
    assert message in done.stderr + done.stdout
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_lint_and_snakefmt_are_clean() -> None:
    lint = snakemake(REPO, "--lint", "--cores", "1", "-n", snakefile=False)
    assert lint.returncode == 0 and "Congratulations" in lint.stdout + lint.stderr, lint.stdout + lint.stderr
    fmt = subprocess.run([str(BIN / "snakefmt"), "--check", "Snakefile", "workflow"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.parametrize("profile", ["lumi", "slurm"])
def test_hpc_profiles_dry_run_here(profile: str) -> None:
    """No Slurm needed: dispatch goes through qcos's providers, not a Snakemake executor plugin."""
    # --forceall: plan every job even when a `make run` left results in the checkout
    done = snakemake(REPO, "--profile", f"profiles/{profile}", "-n", "--forceall", snakefile=False, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert jobs_of(done.stdout).get("dispatch_batch_00_0000") == 1


def test_default_config_with_local_profile_and_report(tmp_path: Path) -> None:
    """What `make run` does (default config, profiles/local), then `snakemake --report`."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    done = snakemake(tmp_path, "--profile", str(REPO / "profiles" / "local"), "--cores", "2")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    rows = (results(tmp_path, "demo") / "summary.csv").read_text().splitlines()
    assert len(rows) == 1 + 29 and any(r.startswith("random-q10-d5-i2,") for r in rows)
    report = tmp_path / "report.html"
    done = snakemake(tmp_path, "--report", str(report))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    html = report.read_text(errors="replace")
    assert len(html) > 10_000 and "fidelity.png" in html


def test_ten_thousand_circuit_sweep_dry_runs_in_seconds(tmp_path: Path) -> None:
    big = {"experiment": "big", "batch_size": 50, "circuits": [
        {"family": "random", "qubits": {"range": [2, 12]}, "depth": {"range": [1, 11]}, "instances": 100}]}
    write_config(tmp_path, big)
    # how fast: bench/bench_workflow.py (timings do not belong in tests)
    done = snakemake(tmp_path, "--cores", "2", "-n", "--quiet", "rules", "reason", "host", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = jobs_of(done.stdout)
    assert sum(jobs.values()) == 2 * 200 + 5


@pytest.fixture()
def bridge_url(tmp_path: Path):
    """A real `qcos bridge serve` on 127.0.0.1 (random free port), stopped by pid afterwards."""
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path / "bridge.log").open("w")
    env = {k: v for k, v in os.environ.items() if k != "BRIDGE_API_KEY"}
    process = subprocess.Popen(
        [str(BIN / "python"), "-m", "qcos", "bridge", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--no-access-log"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the bridge did not start: {(tmp_path / 'bridge.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
        log.close()


def test_custom_rest_bridge_gives_the_same_counts(reference_run: Path, tmp_path: Path, bridge_url: str) -> None:
    """cluster: [{provider: custom_rest}] against a real qcos bridge on loopback."""
    cluster = [{"provider": "custom_rest", "endpoints": [bridge_url, bridge_url], "max_qubits": 12, "timeout_s": 60}]
    workdir = tmp_path / "run"
    workdir.mkdir()
    write_config(workdir, {**SMALL, "cluster": cluster})
    run_ok(workdir)
    assert snapshot(results(workdir) / "counts") == snapshot(results(reference_run) / "counts")
    assert "custom-rest-" in (results(workdir) / "runtimes.csv").read_text()
