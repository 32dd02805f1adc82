"""Benchmark: 1,000 circuits through DistributedQVM on Slurm job arrays vs one sbatch per circuit.

Uses the real Slurm when it answers (as root it starts the test Slurm with
tests/services/slurm-up.sh); otherwise the same path on submitit's LocalExecutor. The
naive baseline submits one job per circuit for a sample of circuits, in the same run,
and is extrapolated to 1,000. The sbatch count is printed last.

    python bench/bench_slurm.py [--circuits 1000] [--sample 16] [--nodes 4] [--per-task 50] [--executor local]
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

from qiskit import QuantumCircuit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from qcos.circuits.qasm import dumps  # noqa: E402
from qcos.providers.cluster import ClusterBuilder  # noqa: E402
from qcos.providers.slurm.executor import make_executor  # noqa: E402
from qcos.providers.slurm.settings import SlurmSettings  # noqa: E402
from qcos.providers.slurm.store import cache_key  # noqa: E402
from qcos.providers.slurm.task import ChunkRunner, ChunkSpec  # noqa: E402
from qcos.qvm import DistributedQVM  # noqa: E402

logger = logging.getLogger(__name__)

SHOTS = 256


def circuit(index: int, width: int = 10) -> QuantumCircuit:
    """Basis-state preparation plus a little entanglement: a known, cheap circuit."""
    qc = QuantumCircuit(width, width, name=f"bench-{index}")
    for bit in range(width):
        if (index >> bit) & 1:
            qc.x(bit)
    qc.h(width - 1)
    qc.cx(width - 1, width - 2)
    qc.measure(range(width), range(width))
    return qc


def start_slurm() -> tuple[bool, bool]:
    """(Slurm answers, this script started it): as root, start the test Slurm when none runs."""
    if shutil.which("sbatch") is None:
        return False, False
    if subprocess.run(["sinfo", "-h"], capture_output=True, timeout=30).returncode == 0:
        return True, False
    if os.geteuid() == 0:
        up = ROOT / "tests" / "services" / "slurm-up.sh"
        ok = subprocess.run(["bash", str(up)], capture_output=True, timeout=240).returncode == 0
        return ok, ok
    return False, False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circuits", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=16, help="circuits submitted one job each (baseline)")
    parser.add_argument("--nodes", type=int, default=4, help="slurm nodes = concurrent array tasks")
    parser.add_argument("--per-task", type=int, default=50, help="circuits per array task")
    parser.add_argument("--partition", default="cpu")
    parser.add_argument("--executor", choices=("auto", "slurm", "local"), default="auto",
                        help="auto: Slurm when it answers, else submitit's LocalExecutor")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    executor, started = args.executor, False
    if executor != "local":
        available, started = start_slurm()
        if executor == "slurm" and not available:
            print("bench_slurm: Slurm does not answer (sinfo); start it or use --executor local", file=sys.stderr)
            return 2
        executor = "slurm" if available else "local"
    try:
        return run(args, executor)
    finally:
        if started:
            subprocess.run(["bash", str(ROOT / "tests" / "services" / "slurm-down.sh")], capture_output=True,
                           timeout=120)


def run(args: argparse.Namespace, executor: str) -> int:
    folder = Path(tempfile.mkdtemp(prefix="qcos-bench-slurm-"))
    common = {"partition": args.partition} if executor == "slurm" else {}
    circuits = [circuit(i) for i in range(args.circuits)]
    print(f"executor: {executor}; {args.circuits} circuits x {SHOTS} shots; {args.nodes} nodes; "
          f"{args.per_task} circuits per array task")

    # -- qcos: DistributedQVM over slurm nodes (job arrays) ------------------------------
    started = time.perf_counter()
    registry = ClusterBuilder().add(
        "slurm", n_nodes=args.nodes, executor=executor, folder=str(folder / "qcos"), aer_device="CPU",
        circuits_per_task=args.per_task, job_name="qcos-bench", poll_s=1.0, reuse_results=False, **common,
    ).build()
    with registry:
        batch = DistributedQVM(registry, shots=SHOTS, seed=2024, progress=False).run_batch(circuits)
        stats = registry.providers[0].stats
    ours_s = time.perf_counter() - started
    assert all(sum(r.counts.values()) == SHOTS for r in batch)
    ours_sbatch = stats["sbatch_calls"] if executor == "slurm" else stats["submissions"]
    print(f"qcos job arrays: {ours_sbatch} submission(s), {stats['array_tasks']} array tasks, "
          f"wall {ours_s:.1f} s ({args.circuits / ours_s:.1f} circuits/s)")

    # -- naive baseline: one job (one sbatch) per circuit, on a sample --------------------
    settings = SlurmSettings(executor=executor, folder=str(folder / "naive"), aer_device="CPU",
                             job_name="qcos-bench-naive", array_parallelism=args.nodes, **common)
    submitter = make_executor(settings)
    options = settings.task_aer_options()
    sample = circuits[: args.sample]
    started = time.perf_counter()
    jobs = []
    for index, qc in enumerate(sample):
        qasm = dumps(qc)
        spec = ChunkSpec(cache_key(qasm, SHOTS, index, options), f"naive/{index}", qasm, SHOTS, index)
        jobs.append(submitter.submit(ChunkRunner([spec], dict(options), None)))
    for job in jobs:
        assert sum(job.result()[0].values()) == SHOTS
    naive_s = time.perf_counter() - started
    naive_total_s = naive_s * args.circuits / len(sample)
    print(f"naive one job per circuit: {len(sample)} submissions for {len(sample)} circuits in {naive_s:.1f} s "
          f"-> {args.circuits} submissions, est. {naive_total_s:.0f} s for {args.circuits} circuits")
    print(f"wall-time ratio naive/qcos: {naive_total_s / ours_s:.1f}x")
    shutil.rmtree(folder, ignore_errors=True)
    label = "sbatch calls" if executor == "slurm" else "submissions (LocalExecutor, no Slurm)"
    print(f"{label} for {args.circuits} circuits: {ours_sbatch} "
          f"(naive: {args.circuits}; ratio qcos/naive = {ours_sbatch / args.circuits:.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
