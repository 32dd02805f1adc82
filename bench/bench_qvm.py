"""DistributedQVM on local_cpu vs one raw AerSimulator.run([...]) batch, same circuits, same run.

Prints the ratio (qcos time / raw Aer time) on the last line; target <= 1.3.
Usage: python bench/bench_qvm.py [--circuits 500] [--shots 1024] [--nodes 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from qiskit.circuit.random import random_circuit
from qiskit_aer import AerSimulator

from qcos import ClusterBuilder, DistributedQVM
from qcos.qvm import aer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--circuits", type=int, default=500)
    parser.add_argument("--shots", type=int, default=1024)
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    simulator = AerSimulator()
    circuits = [random_circuit(5, 5, measure=True, seed=i) for i in range(args.circuits)]
    # pre-built and ready for Aer, for both sides (the QVM finds them native and skips transpiling)
    circuits = [aer.prepare(c) for c in circuits]
    simulator.run(circuits[:5], shots=args.shots).result()  # warm-up

    raw_times, qcos_times = [], []
    with ClusterBuilder().add("local_cpu", n_nodes=args.nodes).build() as registry:
        qvm = DistributedQVM(registry, shots=args.shots, seed=1, progress=False)
        qvm.run_batch(circuits[:5])  # warm-up
        for _ in range(args.repeat):
            started = time.perf_counter()
            simulator.run(circuits, shots=args.shots, seed_simulator=1).result()
            raw_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            batch = qvm.run_batch(circuits)
            qcos_times.append(time.perf_counter() - started)
            assert all(sum(r.counts.values()) == args.shots for r in batch)

    raw, ours = statistics.median(raw_times), statistics.median(qcos_times)
    print(f"circuits={args.circuits} shots={args.shots} nodes={args.nodes} repeat={args.repeat}")
    print(f"raw AerSimulator.run batch : {raw * 1000:8.1f} ms ({raw / args.circuits * 1000:.2f} ms/circuit)")
    print(f"DistributedQVM local_cpu  : {ours * 1000:8.1f} ms ({ours / args.circuits * 1000:.2f} ms/circuit)")
    print(f"ratio qcos/raw (target <= 1.3): {ours / raw:.2f}")


if __name__ == "__main__":
    main()
