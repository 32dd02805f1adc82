"""Chunks by what a shot costs: wide ideal circuits stay one simulation, noisy ones spread over nodes.

Part 1 (ideal): 20-24-qubit random circuits at 8,192 shots, ``DistributedQVM`` with its
defaults (one ``local_cpu`` node, ``chunk_shots="auto"``) vs one raw batched
``AerSimulator.run(circuits, shots=...)``, same run; ratio qcos/raw, target <= 1.1
(1,024-shot chunks made it 7.9x: every chunk re-simulated the statevector).
Part 2 (noisy): a 12-qubit circuit with a depolarizing noise model at 65,536 shots on 2
local nodes vs 1, each node given the same share of the cores (half the machine), so the
ratio shows whether the chunks really spread; target <= 0.65.
The ideal ratio is printed last. Usage:
python bench/bench_wide.py [--widths 20,22,24] [--depth 6] [--shots 8192] [--noisy-shots 65536] [--repeat 2]
                           [--parts noisy,ideal]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

from qiskit.circuit.random import random_circuit
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel, depolarizing_error

from qcos import ClusterBuilder, DistributedQVM
from qcos.workers import simulator


def noise_model() -> NoiseModel:
    model = NoiseModel()
    model.add_all_qubit_quantum_error(depolarizing_error(0.001, 1), ["sx", "x", "rz", "h", "u"])
    model.add_all_qubit_quantum_error(depolarizing_error(0.01, 2), ["cx"])
    return model


def ideal_part(widths: list[int], depth: int, shots: int, repeat: int) -> float:
    circuits = [simulator.prepare(random_circuit(n, depth, max_operands=2, measure=True, seed=n)) for n in widths]
    aer_backend = AerSimulator()
    raw_times, qcos_times = [], []
    with ClusterBuilder().add("local_cpu").build() as registry:
        qvm = DistributedQVM(registry, shots=shots, seed=1, progress=False)  # defaults otherwise
        for _ in range(repeat):
            started = time.perf_counter()
            aer_backend.run(circuits, shots=shots, seed_simulator=1).result()
            raw_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            batch = qvm.run_batch(circuits)
            qcos_times.append(time.perf_counter() - started)
            assert all(r.shots == shots and len(r.chunks) == 1 for r in batch), "an ideal circuit was split"
    raw, ours = statistics.median(raw_times), statistics.median(qcos_times)
    print(f"ideal: {len(circuits)} circuits of {widths} qubits, depth {depth}, {shots} shots, repeat {repeat}")
    print(f"  raw AerSimulator.run batch          : {raw:7.2f} s")
    print(f"  DistributedQVM defaults (1 node)    : {ours:7.2f} s  ({len(batch.per_node)} node, 1 chunk/circuit)")
    return ours / raw


def noisy_part(shots: int, repeat: int) -> float:
    circuit = simulator.prepare(random_circuit(12, 4, max_operands=2, measure=True, seed=12))
    threads = max(1, simulator.threads_per_node(2))  # every node gets half the machine, in both runs
    times: dict[int, list[float]] = {1: [], 2: []}
    counts: dict[int, dict[str, int]] = {}
    with contextlib.ExitStack() as stack:
        qvms = {}
        for n_nodes in times:
            registry = stack.enter_context(ClusterBuilder().add(
                "local_cpu", n_nodes=n_nodes, processes=True, aer_options={"max_parallel_threads": threads}).build())
            qvms[n_nodes] = DistributedQVM(registry, shots=shots, seed=3, progress=False,
                                           options={"noise_model": noise_model()})
            qvms[n_nodes].run(circuit, shots=64)  # warm-up: starts the worker processes
        for _ in range(repeat):  # interleaved, so that a shared machine's load hits both alike
            for n_nodes, qvm in qvms.items():
                started = time.perf_counter()
                batch = qvm.run_batch([circuit])
                times[n_nodes].append(time.perf_counter() - started)
                counts[n_nodes] = batch[0].counts
                used = {node: int(stats["chunks"]) for node, stats in batch.per_node.items()}
                print(f"  noisy, {n_nodes} node(s) x {threads} thread(s): {times[n_nodes][-1]:7.2f} s"
                      f"  ({len(batch[0].chunks)} chunks of {batch[0].chunks[0].shots} shots; per node {used})")
    assert counts[1] == counts[2], "counts differ between 1 and 2 nodes"
    ratio = statistics.median(times[2]) / statistics.median(times[1])
    print(f"noisy: 12 qubits, depolarizing noise, {shots} shots: 2 nodes / 1 node = {ratio:.2f} (target <= 0.65)")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", default="20,22,24", help="qubits of the ideal circuits, comma-separated")
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--shots", type=int, default=8192)
    parser.add_argument("--noisy-shots", type=int, default=65_536)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--parts", default="noisy,ideal", help="which parts to run (noisy, ideal)")
    args = parser.parse_args()
    widths = [int(w) for w in args.widths.split(",") if w.strip()]
    parts = {p.strip() for p in args.parts.split(",")}
    if "noisy" in parts:
        noisy = noisy_part(args.noisy_shots, args.repeat)
        print(f"noisy ratio 2 nodes / 1 node (target <= 0.65): {noisy:.2f}")
    if "ideal" in parts:
        ideal = ideal_part(widths, args.depth, args.shots, args.repeat)
        print(f"ratio qcos/raw for wide ideal circuits, defaults (target <= 1.1): {ideal:.2f}")


if __name__ == "__main__":
    main()
