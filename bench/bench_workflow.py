"""Benchmark: the workflow at scale - dry-run planning, real runs on mock nodes, and Snakemake vs one process.

1. Planning: ``snakemake -n`` of 1,000 and 100,000 circuits (wall time, peak memory of the
   snakemake process tree); targets: 100k within 5x of 1k and under 500 MB.
2. Scaling of a real run on mock nodes (no simulation, so the workflow's own cost shows):
   1,000 and 10,000 circuits through ``snakemake --cores N``; per-circuit cost of the
   10k run within +-25 % of the 1k run's. Both runs pay the same fixed cost (parsing,
   plan, aggregate, plots), measured by a 50-circuit run and taken off before dividing.
3. Aer: a 1,000-circuit sweep on a local_cpu node through Snakemake vs one Python program
   doing the same work with the same steps (``qcos.workflow.steps``: build, transpile,
   simulate, metrics, tables, collect, summary, plots, provenance) on one cluster that it
   keeps for all batches; both sides are timed as commands (interpreter start-up and imports
   included); tables and summary byte-identical; target ratio <= 1.5 (the median of
   ``--repeat`` pairs, each printed with the load average).
The ratios are printed last.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
logger = logging.getLogger(__name__)

#: runs a command; prints the peak RSS (KiB) of its process tree's largest member and the CPU
#: seconds of the tree (processes that were waited for)
_PEAK = ("import resource, subprocess, sys\n"
         "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
         "sys.stderr.write(done.stderr[-3000:] if done.returncode else '')\n"
         "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
         "print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime)\n"
         "sys.exit(done.returncode)\n")


def sweep_config(circuits: int, batch_size: int, cluster: list[dict], experiment: str = "bench") -> dict:
    instances = max(1, circuits // 20)  # 4 widths x 5 depths x instances
    return {
        "experiment": experiment, "seed": 11, "shots": 1024, "batch_size": batch_size,
        "circuits": [{"family": "random", "qubits": {"range": [3, 7]}, "depth": {"range": [2, 7]},
                      "instances": instances}],
        "cluster": cluster,
    }


def workdir_with(root: Path, name: str, config: dict) -> Path:
    workdir = root / name
    (workdir / "config").mkdir(parents=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return workdir


def snakemake_args(workdir: Path, *extra: str) -> list[str]:
    return [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir), *extra]


def timed(command: list[str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and peak memory (MB) of ``command``."""
    wall, peak, _ = timed_cpu(command, cwd)
    return wall, peak


def timed_cpu(command: list[str], cwd: Path) -> tuple[float, int, float]:
    """Wall seconds, peak memory (MB) and CPU seconds of ``command``."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK, *command], cwd=cwd, capture_output=True, text=True,
                          timeout=3600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:6])} ... failed:\n{done.stderr[-4000:]}")
    peak_kib, cpu = done.stdout.split()[-2:]
    return elapsed, int(peak_kib) // 1024, float(cpu)


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def plan_scale(root: Path) -> dict[str, float]:
    mock = [{"provider": "mock", "n_nodes": 2}]
    out = {}
    for n in (1_000, 100_000):
        workdir = workdir_with(root, f"plan{n}", sweep_config(n, 50, mock))
        out[f"plan{n}_s"], out[f"plan{n}_mb"] = timed(snakemake_args(workdir, "-n", "--quiet", "all"), workdir)
        print(f"dry-run {n:>7,} circuits (batch_size 50): {out[f'plan{n}_s']:6.2f} s, peak {out[f'plan{n}_mb']} MB",
              flush=True)
    return out


def mock_scale(root: Path, cores: int) -> dict[str, float]:
    mock = [{"provider": "mock", "n_nodes": 2}]
    out = {}
    for n in (50, 1_000, 10_000):
        workdir = workdir_with(root, f"mock{n}", sweep_config(n, 250, mock))
        out[f"mock{n}_s"], _ = timed(snakemake_args(workdir, "--cores", str(cores), "-q"), workdir)
        print(f"real run {n:>6,} circuits on mock nodes (batch_size 250, --cores {cores}): {out[f'mock{n}_s']:7.2f} s",
              flush=True)
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def run_one_process(workdir: Path) -> None:
    """The workflow's work as one Python program: the same steps, batch after batch, one cluster."""
    from qcos.providers.cluster import load_cluster_config
    from qcos.results.plots import PLOT_NAMES
    from qcos.workflow.config import validate_config
    from qcos.workflow.plan import Plan
    from qcos.workflow.settings import RunSettings
    from qcos.workflow.steps import (
        aggregate_run,
        collect,
        transpile_and_dispatch,
        write_plan,
        write_provenance,
    )

    os.chdir(workdir)
    config = validate_config(yaml.safe_load((workdir / "config" / "config.yaml").read_text()), base_dir=workdir)
    settings = RunSettings.from_config(config)
    plan = Plan.from_config(config, base_dir=workdir)
    write_plan(f"{plan.root}/plan.json", plan.manifest())
    with load_cluster_config(list(settings.cluster), where="config: cluster").build() as cluster:
        for batch in plan:
            transpile_and_dispatch(batch.specs, plan.path("qasm", batch), plan.path("table", batch),
                                   plan.path("run", batch), plan.path("journal", batch), settings=settings,
                                   batch=batch.id, cluster=cluster)
    collect(f"{plan.root}/plan.json", plan.all_paths("table"), f"{plan.root}/collected.json", settings=settings)
    aggregate_run(plan.all_paths("table"), plan.all_paths("run"), summary_path=f"{plan.root}/summary.csv",
                  runtimes_path=f"{plan.root}/runtimes.csv",
                  plots={n: f"{plan.root}/plots/{n}.png" for n in PLOT_NAMES},
                  settings=settings)
    write_provenance(f"{plan.root}/provenance.json", config, n_circuits=len(plan.specs), workflow_dir=REPO)


def aer_ratio(root: Path, circuits: int, batch_size: int, cores: int, repeat: int) -> dict[str, float]:
    config = sweep_config(circuits, batch_size, [{"provider": "local_cpu", "n_nodes": 1}])
    n = 20 * max(1, circuits // 20)
    ratios = []
    for attempt in range(repeat):
        sides = {side: workdir_with(root / f"aer{attempt}", side, config) for side in ("snakemake", "one_process")}
        before = load()
        one, one_mb, one_cpu = timed_cpu([sys.executable, str(Path(__file__).resolve()), "--one-process",
                                          str(sides["one_process"])], sides["one_process"])
        smk, smk_mb, smk_cpu = timed_cpu(snakemake_args(sides["snakemake"], "--profile", str(REPO / "profiles" / "local"),
                                                        "--cores", str(cores), "-q"), sides["snakemake"])
        tables = [sorted((w / "results" / "bench" / "counts").glob("*.parquet")) for w in sides.values()]
        identical = len(tables[0]) == len(tables[1]) > 0 and all(
            a.read_bytes() == b.read_bytes() for a, b in zip(*tables, strict=True))
        summaries = [(w / "results" / "bench" / "summary.csv").read_bytes() for w in sides.values()]
        ratios.append(smk / one)
        print(f"Aer, {n} circuits, batch_size {batch_size}, local_cpu x1: one process {one:.2f} s "
              f"({1000 * one / n:.1f} ms/circuit, {one_cpu:.1f} CPU s, {one_mb} MB); "
              f"snakemake --profile profiles/local --cores {cores}: {smk:.2f} s ({1000 * smk / n:.1f} ms/circuit, "
              f"{smk_cpu:.1f} CPU s); ratio {smk / one:.2f} ({before} before, {load()} after)", flush=True)
        print(f"tables byte-identical: {identical}; summary byte-identical: {summaries[0] == summaries[1]}",
              flush=True)
        shutil.rmtree(root / f"aer{attempt}", ignore_errors=True)
    return {"aer_ratio": statistics.median(ratios), "aer_ratio_min": min(ratios), "aer_ratio_max": max(ratios)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circuits", type=int, default=1000, help="circuits of the Aer comparison")
    parser.add_argument("--batch-size", type=int, default=200, help="batch_size of the Aer comparison")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="pairs of Aer runs (the median ratio is printed last)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["plan", "mock", "aer"])
    parser.add_argument("--one-process", type=Path, help=argparse.SUPPRESS)  # the Aer baseline's own process
    args = parser.parse_args()
    if args.one_process:
        run_one_process(args.one_process)
        return
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="qcos-bench-workflow-") as tmp:
        root = Path(tmp)
        if "plan" not in args.skip:
            results |= plan_scale(root)
        if "mock" not in args.skip:
            results |= mock_scale(root, args.cores)
        if "aer" not in args.skip:
            results |= aer_ratio(root, args.circuits, args.batch_size, args.cores, args.repeat)
        os.chdir(REPO)
    print("--- ratios ---")
    if "plan1000_s" in results:
        print(f"dry-run 100k / 1k: {results['plan100000_s'] / results['plan1000_s']:.2f} (target <= 5); "
              f"peak memory at 100k: {results['plan100000_mb']} MB (target < 500)")
    if "mock1000_s" in results:
        fixed = results["mock50_s"]
        per_1k = (results["mock1000_s"] - fixed) / 950
        per_10k = (results["mock10000_s"] - fixed) / 9950
        print(f"per-circuit cost on mock nodes, 10k / 1k: {per_10k / per_1k:.2f} (target 0.75-1.25; "
              f"{1000 * per_1k:.2f} vs {1000 * per_10k:.2f} ms/circuit after the {fixed:.1f} s fixed cost; "
              f"raw {results['mock10000_s'] / 10:.2f} vs {results['mock1000_s']:.2f} ms/circuit)")
    if "aer_ratio" in results:
        print(f"ratio snakemake/one-process (Aer, 1,000 circuits): {results['aer_ratio']:.2f} "
              f"(median of {args.repeat}, range {results['aer_ratio_min']:.2f}-{results['aer_ratio_max']:.2f}; "
              "target <= 1.5)")


if __name__ == "__main__":
    main()
