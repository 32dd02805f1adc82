"""The Snakemake workflow end to end, as real `snakemake` runs in temporary folders."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import wait_for
from helpers.bridge import BridgeProcess
from helpers.services import SlurmService
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


def run_record(workdir: Path, batch: str, experiment: str = "t") -> dict:
    return json.loads((results(workdir, experiment) / "runs" / f"{batch}.json").read_text())


BATCHES = ["ghz-0-0000", "ghz-0-0001", "qaoa_ring-0-0000", "qasm-0-0000", "random-0-0000"]
IDS = ["ghz-q2", "ghz-q3", "ghz-q4", "ghz-q5", "random-q3-d2-i0", "random-q3-d2-i1",
       "qaoa_ring-q4-g0.5-b0.2", "qaoa_ring-q4-g0.5-b0.4", "qasm-bell"]


def tables(workdir: Path) -> dict[str, bytes]:
    """The result tables and compiled-circuit tables of a run, by relative path."""
    out = results(workdir)
    return {**{f"counts/{k}": v for k, v in snapshot(out / "counts").items()},
            **{f"qasm/{k}": v for k, v in snapshot(out / "qasm").items()}}


def test_end_to_end_outputs(reference_run: Path) -> None:
    from qcos.results.reader import Results

    out = results(reference_run)
    assert sorted(p.stem for p in (out / "counts").glob("*.parquet")) == BATCHES
    assert sorted(p.stem for p in (out / "qasm").glob("*.parquet")) == BATCHES
    assert sorted(p.stem for p in (out / "runs").iterdir()) == BATCHES
    assert not list(out.rglob("*.qasm")) and not (out / "counts" / "ghz-q3.json").exists()
    stored = Results(out)
    assert [r.circuit_id for r in stored.records()] == IDS
    ghz3 = stored.get("ghz-q3")
    assert ghz3.shots == 256 and ghz3.seed == 7 and set(ghz3.counts) <= {"000", "111"} and ghz3.batch == "ghz-0-0000"
    assert sum(ghz3.counts.values()) == 256 and ghz3.metadata["versions"]["qiskit"] and len(ghz3.qasm_sha256) == 64
    with (out / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["circuit_id"] for r in rows] == IDS
    assert all(float(r["hellinger_fidelity"]) > 0.9 for r in rows)
    assert rows[0]["qubits"] == "2" and rows[0]["top_outcome"] in ("00", "11") and rows[0]["gamma"] == ""
    assert rows[4]["depth"] == "2" and rows[4]["instance"] == "0" and rows[6]["gamma"] == "0.5"
    cli = subprocess.run([str(BIN / "qcos"), "results", "t", "ghz-q3"], cwd=reference_run,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and json.loads(cli.stdout) == dict(ghz3.counts)
    runtimes = (out / "runtimes.csv").read_text().splitlines()
    assert len(runtimes) == 10 and "local-cpu-0" in runtimes[1]
    for plot in ("fidelity", "top_outcome", "runtime", "parameters", "qaoa_landscape", "ideal_vs_measured"):
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
    assert tables(tmp_path) == tables(reference_run)
    for name in ("summary.csv", "plan.json", "collected.json"):
        assert (results(tmp_path) / name).read_bytes() == (results(reference_run) / name).read_bytes()
    assert "local-cpu-1" in (results(tmp_path) / "runtimes.csv").read_text()


def test_slurm_provider_local_executor_gives_the_same_counts(reference_run: Path, tmp_path: Path) -> None:
    """cluster: [{provider: slurm, executor: local}] - the Slurm path through submitit, no Slurm needed."""
    cluster = [{"provider": "slurm", "executor": "local", "n_nodes": 2, "folder": str(tmp_path / "submitit")}]
    write_config(tmp_path, {**SMALL, "cluster": cluster})
    run_ok(tmp_path)
    assert tables(tmp_path) == tables(reference_run)
    assert (results(tmp_path) / "summary.csv").read_bytes() == (results(reference_run) / "summary.csv").read_bytes()
    assert "slurm-" in (results(tmp_path) / "runtimes.csv").read_text()


@pytest.mark.slurm
def test_real_slurm_gives_the_same_counts(reference_run: Path, tmp_path: Path, slurm_service: SlurmService) -> None:
    """cluster: [{provider: slurm}] on a real slurmctld: every batch becomes a job array."""
    cluster = [{"provider": "slurm", "partition": "cpu", "n_nodes": 2, "folder": str(tmp_path / "submitit"),
                "time_min": 10, "poll_s": 1.0, "gather_s": 0.3, "aer_device": "CPU"}]
    workdir = tmp_path / "run"
    workdir.mkdir()
    write_config(workdir, {**SMALL, "cluster": cluster})
    run_ok(workdir)
    assert tables(workdir) == tables(reference_run)
    assert (results(workdir) / "summary.csv").read_bytes() == (results(reference_run) / "summary.csv").read_bytes()
    assert list((tmp_path / "submitit").rglob("*_log.out")), "no Slurm task logs: did the jobs go through Slurm?"


def test_adding_a_sweep_point_reruns_only_its_batch_and_reuses_the_old_chunk(reference_run: Path, tmp_path: Path) -> None:
    workdir = copy_run(reference_run, tmp_path / "run")
    before = tables(workdir)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (results(workdir) / "counts").iterdir()}
    grown = {**SMALL, "circuits": [{"family": "ghz", "qubits": [2, 3, 4, 5, 6]}, *SMALL["circuits"][1:]]}
    write_config(workdir, grown)
    planned = jobs_of(snakemake(workdir, "--cores", "2", "-n").stdout)
    assert planned == {"plan": 1, "dispatch": 1, "aggregate": 1, "provenance": 1, "default": 1}
    run_ok(workdir)
    record = run_record(workdir, "ghz-0-0001")
    assert record["chunks"] == {"total": 2, "reused": 1, "simulated": 1}  # ghz-q5 from the journal, ghz-q6 new
    assert record["circuits"]["ghz-q5"]["reused"] is True and record["circuits"]["ghz-q6"]["reused"] is False
    after = tables(workdir)
    assert {k for k in after if after[k] != before.get(k)} == {"counts/ghz-0-0001.parquet", "qasm/ghz-0-0001.parquet"}
    untouched = [n for n in mtimes if n != "ghz-0-0001.parquet"]
    assert all((results(workdir) / "counts" / n).stat().st_mtime_ns == mtimes[n] for n in untouched)
    assert "Nothing to be done" in snakemake(workdir, "--cores", "2", "-n").stdout


def test_adding_a_family_keeps_old_batch_names_and_results(reference_run: Path, tmp_path: Path) -> None:
    workdir = copy_run(reference_run, tmp_path / "run")
    before = tables(workdir)
    grown = {**SMALL, "circuits": [{"family": "qft", "qubits": [3]}, *SMALL["circuits"]]}  # first, not last
    write_config(workdir, grown)
    dry = snakemake(workdir, "--cores", "2", "-n")
    planned = jobs_of(dry.stdout)
    assert planned["dispatch"] == 1, dry.stdout[-3000:]
    assert "qft-0-0000" in dry.stdout
    run_ok(workdir)
    after = tables(workdir)
    assert set(after) - set(before) == {"counts/qft-0-0000.parquet", "qasm/qft-0-0000.parquet"}
    assert all(after[name] == data for name, data in before.items())
    rows = (results(workdir) / "summary.csv").read_text().splitlines()
    assert rows[1].startswith("qft-q3,") and len(rows) == 1 + 10


def test_deleted_batch_table_is_redone_from_the_journal(reference_run: Path, tmp_path: Path) -> None:
    workdir = copy_run(reference_run, tmp_path / "run")
    before = tables(workdir)
    (results(workdir) / "counts" / "random-0-0000.parquet").unlink()
    planned = jobs_of(snakemake(workdir, "--cores", "2", "-n").stdout)
    assert planned.get("dispatch") == 1
    run_ok(workdir)
    assert run_record(workdir, "random-0-0000")["chunks"] == {"total": 2, "reused": 2, "simulated": 0}
    assert tables(workdir) == before


#: one batch of 192 chunks of 50 ms each on a mock node: the journal fills in bursts (one per
#: pull of the scheduler: 96, 48, 24, ... chunks), so a kill after the first burst lands mid-batch
MANY_CHUNKS = {**SMALL, "experiment": "k", "shots": 4096, "batch_size": 10, "dispatch": {"chunk_shots": 64},
               "circuits": [{"family": "ghz", "qubits": [3, 4, 5]}],
               "cluster": [{"provider": "mock", "n_nodes": 1, "latency_s": 0.05}]}


def journal_lines(workdir: Path, batch: str, experiment: str = "k") -> int:
    from qcos.workflow.journal import read_journal

    return len(read_journal(results(workdir, experiment) / "journal" / f"{batch}.jsonl"))


def test_killed_dispatch_job_resumes_with_only_the_lost_chunks(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    write_config(fresh, MANY_CHUNKS)
    run_ok(fresh)
    total = run_record(fresh, "ghz-0-0000", "k")["chunks"]["total"]
    assert total == 3 * 64
    killed = tmp_path / "killed"
    write_config(killed, MANY_CHUNKS)
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(killed), "--cores", "1"]
    process = subprocess.Popen(command, cwd=killed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        wait_for(lambda: process.poll() is not None or journal_lines(killed, "ghz-0-0000") > 0, 240.0,
                 "the dispatch job's first journaled chunk (or its end)", interval_s=0.02)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the dispatch job, its Aer workers and snakemake
        process.wait(timeout=30)
    assert not (results(killed, "k") / "counts" / "ghz-0-0000.parquet").exists(), "finished before the kill"
    kept = journal_lines(killed, "ghz-0-0000")
    assert 0 < kept < total
    snakemake(killed, "--unlock")
    run_ok(killed, "--rerun-incomplete")
    record = run_record(killed, "ghz-0-0000", "k")
    assert record["chunks"] == {"total": total, "reused": kept, "simulated": total - kept}
    for name in ("counts/ghz-0-0000.parquet", "qasm/ghz-0-0000.parquet", "summary.csv"):
        assert (results(killed, "k") / name).read_bytes() == (results(fresh, "k") / name).read_bytes()


def test_raising_shots_runs_only_the_new_chunks(tmp_path: Path) -> None:
    config = {**SMALL, "experiment": "s", "shots": 2048, "dispatch": {"chunk_shots": 512},
              "circuits": [{"family": "ghz", "qubits": [3, 4]}, {"family": "random", "qubits": 3, "depth": 3}]}
    raised = tmp_path / "raised"
    write_config(raised, config)
    run_ok(raised)
    write_config(raised, {**config, "shots": 4096})
    planned = jobs_of(snakemake(raised, "--cores", "2", "-n").stdout)
    assert planned.get("dispatch") == 2
    run_ok(raised)
    fresh = tmp_path / "fresh"
    write_config(fresh, {**config, "shots": 4096})
    run_ok(fresh)
    for batch, circuits in (("ghz-0-0000", 2), ("random-0-0000", 1)):
        assert run_record(raised, batch, "s")["chunks"] == {"total": 8 * circuits, "reused": 4 * circuits,
                                                             "simulated": 4 * circuits}
        assert run_record(fresh, batch, "s")["chunks"]["simulated"] == 8 * circuits
        for kind in ("counts", "qasm"):
            path = f"{kind}/{batch}.parquet"
            assert (results(raised, "s") / path).read_bytes() == (results(fresh, "s") / path).read_bytes()
    assert (results(raised, "s") / "summary.csv").read_bytes() == (results(fresh, "s") / "summary.csv").read_bytes()


def test_raising_shots_of_one_chunk_circuits_adds_one_chunk(tmp_path: Path) -> None:
    """chunk_shots: auto keeps an ideal circuit in one chunk; raising its shots then simulates one
    more chunk for the extra shots instead of rerunning the circuit (issue 16, item 3)."""
    from qcos.results.reader import Results

    config = {**SMALL, "experiment": "a", "shots": 2048, "circuits": [{"family": "ghz", "qubits": [3, 4]}]}
    write_config(tmp_path, config)
    run_ok(tmp_path)
    assert run_record(tmp_path, "ghz-0-0000", "a")["chunks"] == {"total": 2, "reused": 0, "simulated": 2}
    write_config(tmp_path, {**config, "shots": 4096})
    run_ok(tmp_path)
    assert run_record(tmp_path, "ghz-0-0000", "a")["chunks"] == {"total": 4, "reused": 2, "simulated": 2}
    record = Results(results(tmp_path, "a")).get("ghz-q3")
    assert record.chunks == (2048, 2048) and record.shots == 4096 and set(record.counts) == {"000", "111"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"circuits": [{"family": "ghzz", "qubits": [3]}]},
         "config: circuits[0].family: unknown family 'ghzz'; known families: ghz, qaoa_ring, qasm, qft, qv, random"),
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
    assert jobs_of(done.stdout).get("dispatch", 0) >= 1


def test_default_config_with_local_profile_and_report(tmp_path: Path) -> None:
    """What `make run` does (default config, profiles/local), then `snakemake --report`."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    done = snakemake(tmp_path, "--profile", str(REPO / "profiles" / "local"), "--cores", "2")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    rows = (results(tmp_path, "demo") / "summary.csv").read_text().splitlines()
    assert len(rows) == 1 + 55 and any(r.startswith("random-q10-d5-i2,") for r in rows)
    report = tmp_path / "report.html"
    done = snakemake(tmp_path, "--report", str(report))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    html = report.read_text(errors="replace")
    assert len(html) > 10_000 and "fidelity.png" in html and "qaoa_landscape.png" in html


def test_ten_thousand_circuit_sweep_dry_runs_in_seconds(tmp_path: Path) -> None:
    big = {"experiment": "big", "batch_size": 50, "circuits": [
        {"family": "random", "qubits": {"range": [2, 12]}, "depth": {"range": [1, 11]}, "instances": 100}]}
    write_config(tmp_path, big)
    # how fast: bench/bench_workflow.py (timings do not belong in tests)
    done = snakemake(tmp_path, "--cores", "2", "-n", "--quiet", "rules", "reason", "host", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = jobs_of(done.stdout)
    assert sum(jobs.values()) == 200 + 4  # a dispatch job per batch; plan, aggregate, provenance, default


def test_a_hundred_thousand_circuits_need_no_more_rules(tmp_path: Path) -> None:
    huge = {"experiment": "huge", "batch_size": 50, "circuits": [
        {"family": "random", "qubits": {"range": [2, 12]}, "depth": {"range": [1, 11]}, "instances": 1000}]}
    write_config(tmp_path, huge)
    done = snakemake(tmp_path, "--list-rules", timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    rules = done.stdout.split()
    assert set(rules) == {"all", "default", "plan", "dispatch", "aggregate", "provenance"}
    assert len(rules) <= 12


def test_until_dispatch_and_per_stage_resources(reference_run: Path, tmp_path: Path) -> None:
    workdir = copy_run(reference_run, tmp_path / "run")
    write_config(workdir, {**SMALL, "shots": 512, "cluster": [{"provider": "local_cpu", "n_nodes": 2}]})
    dry = snakemake(workdir, "--cores", "4", "-n", "--until", "dispatch", "--set-threads", "dispatch=3",
                    "--set-resources", "dispatch:mem_mb=1234")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert jobs_of(dry.stdout) == {"dispatch": 5}
    assert dry.stdout.count("threads: 3") == 5 and "mem_mb=1234" in dry.stdout
    default = snakemake(workdir, "--cores", "4", "-n", "--until", "dispatch")
    assert default.stdout.count("threads: 2") == 5  # one core per local node of the cluster
    run_ok(workdir, "--until", "dispatch")
    assert run_record(workdir, "ghz-0-0000")["chunks"]["simulated"] == 3
    assert (results(workdir) / "summary.csv").read_bytes() == (results(reference_run) / "summary.csv").read_bytes()
    assert jobs_of(snakemake(workdir, "--cores", "2", "-n").stdout).keys() == {"aggregate", "provenance", "default"}


@pytest.fixture()
def bridge_url(tmp_path: Path) -> Iterator[str]:
    """A real `qcos bridge serve` on 127.0.0.1 (random free port, no key), stopped by pid afterwards."""
    server = BridgeProcess(tmp_path, "--host", "127.0.0.1", "--workers", "1", "--no-access-log").start()
    try:
        yield server.url
    finally:
        server.stop()


def test_custom_rest_bridge_gives_the_same_counts(reference_run: Path, tmp_path: Path, bridge_url: str) -> None:
    """cluster: [{provider: custom_rest}] against a real qcos bridge on loopback."""
    cluster = [{"provider": "custom_rest", "endpoints": [bridge_url, bridge_url], "max_qubits": 12, "timeout_s": 60}]
    workdir = tmp_path / "run"
    workdir.mkdir()
    write_config(workdir, {**SMALL, "cluster": cluster})
    run_ok(workdir)
    assert tables(workdir) == tables(reference_run)
    assert "custom-rest-" in (results(workdir) / "runtimes.csv").read_text()
