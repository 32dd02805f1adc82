"""A 100-point parametric sweep through qcos.primitives.Sampler vs the same points built and transpiled one by one.

Baseline (what the workflow does with a sweep today): each point of a QAOA-ring sweep is built
as its own circuit (the ``qaoa_ring`` family builder), transpiled with the workflow's own reused
pass manager (``workflow.steps.make_pass_manager``: basis cx, rz, sx, x, h), and the 100 circuits
run through ``DistributedQVM.run_batch``. Ours: one parametric template, transpiled once to Aer's
gate set, its 100 points run by ``Sampler`` as parametric chunks (one Aer ``parameter_binds``
call per group of points a node takes). Same cluster, same shots, same chunking. The last line
prints the ratio (Sampler time / baseline time); target <= 0.5.
Usage: python bench/bench_primitives.py [--qubits 12] [--layers 3] [--points 100] [--shots 1024]
       [--nodes N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector

from qcos import ClusterBuilder, DistributedQVM
from qcos.circuits.families import build_qaoa_ring
from qcos.primitives import Sampler
from qcos.workers import simulator
from qcos.workflow.steps import make_pass_manager


def qaoa_template(n: int, layers: int) -> QuantumCircuit:
    """The same ansatz as the ``qaoa_ring`` family, with gamma and beta as parameters."""
    gamma, beta = ParameterVector("gamma", 1), ParameterVector("beta", 1)
    edges = [(i, (i + 1) % n) for i in range(n)] if n > 2 else [(0, 1)]
    circuit = QuantumCircuit(n, name=f"qaoa-ring-q{n}")
    circuit.h(range(n))
    for _ in range(layers):
        for a, b in edges:
            circuit.rzz(2 * gamma[0], a, b)
        circuit.rx(2 * beta[0], range(n))
    circuit.measure_all()
    return circuit


def baseline(qvm: DistributedQVM, points: np.ndarray, args: argparse.Namespace) -> float:
    started = time.perf_counter()
    manager = make_pass_manager({"optimization_level": 1}, 1)
    circuits = []
    for gamma, beta in points:
        circuit = build_qaoa_ring({"qubits": args.qubits, "gamma": gamma, "beta": beta, "layers": args.layers}, 0)
        circuits.append(manager.run(circuit))
    batch = qvm.run_batch(circuits, args.shots, 1)
    assert all(result.shots == args.shots for result in batch)
    return time.perf_counter() - started


def primitives(qvm: DistributedQVM, points: np.ndarray, args: argparse.Namespace) -> float:
    started = time.perf_counter()
    sampler = Sampler(qvm, seed=1)  # a new sampler: its one template transpile is timed every time
    template = qaoa_template(args.qubits, args.layers)
    result = sampler.run([(template, points)], shots=args.shots).result()
    assert result[0].data.meas.shape == (len(points),) and result[0].data.meas.num_shots == args.shots
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qubits", type=int, default=12)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--shots", type=int, default=1024)
    parser.add_argument("--nodes", type=int, default=max(2, simulator.threads_per_node(1)))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    grid = np.random.default_rng(0).uniform(0, np.pi, (args.points, 2))  # (gamma, beta) per point
    times: dict[str, list[float]] = {"baseline": [], "sampler": []}
    with ClusterBuilder().add("local_cpu", n_nodes=args.nodes).build() as registry:
        qvm = DistributedQVM(registry, seed=1, chunk_shots=max(args.shots, 1024), progress=False)
        baseline(qvm, grid[:4], args)  # warm-up: worker processes, pass managers
        primitives(qvm, grid[:4], args)
        for _ in range(args.repeat):
            times["baseline"].append(baseline(qvm, grid, args))
            times["sampler"].append(primitives(qvm, grid, args))

    base, ours = statistics.median(times["baseline"]), statistics.median(times["sampler"])
    print(f"qaoa ring q={args.qubits} p={args.layers}, {args.points} points x {args.shots} shots, "
          f"local_cpu x{args.nodes}, median of {args.repeat}")
    print(f"baseline: build + transpile each point + DistributedQVM.run_batch : {base * 1000:8.1f} ms "
          f"({base / args.points * 1000:.2f} ms/point)")
    print(f"Sampler: one template transpiled once + bound points            : {ours * 1000:8.1f} ms "
          f"({ours / args.points * 1000:.2f} ms/point)")
    print(f"ratio Sampler/baseline (target <= 0.5): {ours / base:.2f}")


if __name__ == "__main__":
    main()
