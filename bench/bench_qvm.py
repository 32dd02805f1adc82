"""DistributedQVM on local_cpu vs one raw AerSimulator.run([...]) batch, same circuits, same run.

Prints the ratio (qcos time / raw Aer time) on the last line; target <= 1.15. It measures
one local node (in-process, the per-chunk seeded runs alone) and then ``--nodes`` nodes
(default: one per core, each in a warm worker process); the last line is the latter.
Usage: python bench/bench_qvm.py [--circuits 500] [--shots 1024] [--nodes N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from qiskit.circuit.random import random_circuit
from qiskit_aer import AerSimulator

from qcos import ClusterBuilder, DistributedQVM
from qcos.workers import simulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--circuits", type=int, default=500)
    parser.add_argument("--shots", type=int, default=1024)
    parser.add_argument("--nodes", type=int, default=max(2, simulator.threads_per_node(1)))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    aer_backend = AerSimulator()
    circuits = [random_circuit(5, 5, measure=True, seed=i) for i in range(args.circuits)]
    # pre-built and ready for Aer, for both sides (the QVM finds them native and skips transpiling)
    circuits = [simulator.prepare(c) for c in circuits]
    aer_backend.run(circuits[:5], shots=args.shots).result()  # warm-up

    raw_times: list[float] = []
    qcos_times: dict[int, list[float]] = {1: [], args.nodes: []}
    for n_nodes in qcos_times:
        with ClusterBuilder().add("local_cpu", n_nodes=n_nodes).build() as registry:
            qvm = DistributedQVM(registry, shots=args.shots, seed=1, progress=False)
            qvm.run_batch(circuits[:20])  # warm-up (starts worker processes)
            for _ in range(args.repeat):
                started = time.perf_counter()
                aer_backend.run(circuits, shots=args.shots, seed_simulator=1).result()
                raw_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                batch = qvm.run_batch(circuits)
                qcos_times[n_nodes].append(time.perf_counter() - started)
                assert all(sum(r.counts.values()) == args.shots for r in batch)

    raw = statistics.median(raw_times)
    print(f"circuits={args.circuits} shots={args.shots} repeat={args.repeat}")
    print(f"raw AerSimulator.run batch      : {raw * 1000:8.1f} ms ({raw / args.circuits * 1000:.2f} ms/circuit)")
    for n_nodes, times in qcos_times.items():
        ours = statistics.median(times)
        print(f"DistributedQVM local_cpu x{n_nodes:<3} : {ours * 1000:8.1f} ms ({ours / args.circuits * 1000:.2f} ms/circuit)"
              f"  ratio {ours / raw:.2f}")
    ours = statistics.median(qcos_times[args.nodes])
    print(f"ratio qcos/raw with {args.nodes} local nodes (target <= 1.15): {ours / raw:.2f}")


if __name__ == "__main__":
    main()
