"""Benchmark: a 1,000-circuit sweep through `snakemake` vs one Python process doing the same steps.

Both sides generate, transpile (one pass manager per batch), run on the same cluster
(DistributedQVM, local Aer) and write the same counts files, summary, plots and
provenance; the counts must come out byte-identical. Prints the ratio last:
snakemake wall time / one-process wall time (target <= 2).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
logger = logging.getLogger(__name__)


def sweep_config(circuits: int, batch_size: int) -> dict:
    instances = max(1, circuits // 20)
    return {
        "experiment": "bench",
        "seed": 11,
        "shots": 1024,
        "batch_size": batch_size,
        "circuits": [{"family": "random", "qubits": {"range": [3, 8]}, "depth": {"range": [2, 6]}, "instances": instances}],
        "cluster": [{"provider": "local_cpu", "n_nodes": 1}],
    }


def run_snakemake(workdir: Path, cores: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir),
         "--profile", str(REPO / "profiles" / "local"), "--cores", str(cores), "-q"],
        cwd=workdir, capture_output=True, text=True, timeout=900,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"snakemake failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return elapsed


def run_one_process(workdir: Path) -> float:
    """The same steps as the workflow's jobs, in this process, batch after batch."""
    from qcos.results.collect import collect_to

    from qcos.workflow.config import validate_config
    from qcos.workflow.plan import Plan
    from qcos.workflow.steps import (
        aggregate_run,
        dispatch_batch,
        transpile_batch,
        write_plan,
        write_provenance,
    )

    os.chdir(workdir)
    started = time.perf_counter()
    config = validate_config(yaml.safe_load((workdir / "config" / "config.yaml").read_text()), base_dir=workdir)
    plan = Plan.from_config(config, base_dir=workdir)
    write_plan(f"{plan.root}/plan.json", plan.manifest())
    for batch in plan:
        qasm = [plan.qasm(i) for i in batch.ids]
        transpile_batch(batch.specs, qasm, seed=config["seed"], transpile=config["transpile"])
        dispatch_batch(batch.specs, qasm, [plan.counts(i) for i in batch.ids], plan.run_record(batch),
                       config=config, batch=batch.id)
    collect_to(f"{plan.root}/collected.json", plan.ids, plan.all_counts(), config=config)
    aggregate_run(f"{plan.root}/plan.json", plan.all_counts(), plan.all_qasm(), plan.all_run_records(),
                  summary_path=f"{plan.root}/summary.csv", runtimes_path=f"{plan.root}/runtimes.csv",
                  plots={n: f"{plan.root}/plots/{n}.png" for n in ("fidelity", "top_outcome", "runtime")},
                  fidelity_max_qubits=config["aggregate"]["fidelity_max_qubits"])
    write_provenance(f"{plan.root}/provenance.json", config, n_circuits=len(plan.ids), workflow_dir=REPO)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circuits", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    config = sweep_config(args.circuits, args.batch_size)
    with tempfile.TemporaryDirectory(prefix="qcos-bench-workflow-") as tmp:
        sides = {}
        for side in ("snakemake", "one_process"):
            workdir = Path(tmp) / side
            (workdir / "config").mkdir(parents=True)
            (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
            sides[side] = workdir
        one = run_one_process(sides["one_process"])
        os.chdir(tmp)
        smk = run_snakemake(sides["snakemake"], args.cores)
        counts = [sorted((w / "results" / "bench" / "counts").iterdir()) for w in sides.values()]
        identical = len(counts[0]) == len(counts[1]) == 20 * max(1, args.circuits // 20) and all(
            a.read_bytes() == b.read_bytes() for a, b in zip(*counts, strict=True))
        summaries_equal = all(
            (sides["snakemake"] / "results" / "bench" / "summary.csv").read_bytes()
            == (sides["one_process"] / "results" / "bench" / "summary.csv").read_bytes() for _ in [0])
        shutil.rmtree(tmp, ignore_errors=True)
    n = 20 * max(1, args.circuits // 20)
    print(f"circuits: {n}, batch_size: {args.batch_size}, cores: {args.cores}, cluster: local_cpu x1")
    print(f"one process (same steps):                      {one:7.2f} s  ({1000 * one / n:.1f} ms/circuit)")
    print(f"snakemake --profile profiles/local --cores {args.cores}: {smk:7.2f} s  ({1000 * smk / n:.1f} ms/circuit)")
    print(f"counts byte-identical: {identical}; summary byte-identical: {summaries_equal}")
    print(f"ratio snakemake/one-process: {smk / one:.2f}")


if __name__ == "__main__":
    main()
