"""Local nodes' workers as real processes: they die with their parent, honour chunk_timeout_s,
survive a killed worker with exact totals, and fail a poison circuit without blaming the node."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from helpers import wait_for
from helpers.processes import alive, cmdline, cpu_seconds, descendants
from qiskit import QuantumCircuit

from qcos import ClusterBuilder, DistributedQVM, QVMMode
from qcos.exceptions import DispatchError
from qcos.workers.process import WorkerProcess

pytestmark = pytest.mark.slow


def loop_circuit(iterations: int, name: str) -> QuantumCircuit:
    """A 2-qubit circuit Aer simulates iteration by iteration (~70 us each per shot here)."""
    from qcos.circuits.qasm import loads

    circuit = loads('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
                    f"for int i in [0:{iterations}] {{ h q[0]; cx q[0], q[1]; }}\nc = measure q;\n")
    circuit.name = name
    return circuit


PARENT = textwrap.dedent('''\
    import sys
    from qiskit import QuantumCircuit
    from qcos import ClusterBuilder, DistributedQVM

    registry = ClusterBuilder().add("local_cpu", n_nodes=2).build()
    circuit = QuantumCircuit(22)
    for layer in range(200):
        for q in range(22):
            circuit.rx(0.1 + layer, q)
        for q in range(21):
            circuit.cx(q, q + 1)
    circuit.measure_all()
    print("running", flush=True)
    DistributedQVM(registry, shots=100, seed=1).run_batch([circuit] * 4)
''')


def test_sigkill_of_the_parent_leaves_no_process_of_its_tree(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)  # no main guard: a plain script
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "running"

        def two_workers() -> list[int]:
            found = [pid for pid in descendants(parent.pid) if "qcos.workers.aer" in cmdline(pid)]
            return found if len(found) == 2 else []

        workers = wait_for(two_workers, what="two workers")
        used = {pid: cpu_seconds(pid) for pid in workers}
        wait_for(lambda: all(cpu_seconds(pid) > used[pid] + 0.5 for pid in workers),
                 what="both workers to be simulating")  # mid-run, not idle
        tree = descendants(parent.pid)
        assert set(workers) <= tree
    finally:
        parent.kill()
        parent.wait()
    wait_for(lambda: not [pid for pid in tree if alive(pid)], 60.0, "every process of the tree to die with its parent")


def test_chunk_timeout_fails_fast_and_no_worker_keeps_burning_cpu():
    circuit = QuantumCircuit(26, name="wide")
    for layer in range(60):
        for q in range(26):
            circuit.rx(0.2 + layer, q)
        for q in range(25):
            circuit.cx(q, q + 1)
    circuit.measure_all()
    with ClusterBuilder().add("local_cpu", n_nodes=2).build() as registry:
        pool = registry.provider_for("local-cpu-0").worker_pool()
        pool.start()
        before = set(pool.pids())
        qvm = DistributedQVM(registry, shots=10, seed=1, chunk_timeout_s=1)
        with pytest.raises(DispatchError, match="timed out|timeout"):
            qvm.run(circuit)
        wait_for(lambda: not [pid for pid in before if alive(pid)], what="the timed-out workers to be killed")
        wait_for(lambda: pool.stats()["idle"] == 2, what="the replacement workers")
        workers = pool.pids()
        used = {pid: cpu_seconds(pid) for pid in workers}
        time.sleep(2.0)
        assert all(cpu_seconds(pid) - used[pid] < 0.5 for pid in workers), "an idle worker is burning CPU"
        assert sum(DistributedQVM(registry, shots=64, seed=2).run(loop_circuit(1, "after")).counts.values()) == 64


def test_a_worker_killed_mid_chunk_the_chunk_reruns_and_totals_are_exact():
    circuits = [loop_circuit(2000 + i, f"loop{i}") for i in range(6)]
    with ClusterBuilder().add("local_cpu", n_nodes=2).build() as registry:
        pool = registry.provider_for("local-cpu-0").worker_pool()
        pool.start()
        victim = pool.pids()[0]
        idle_cpu = cpu_seconds(victim)

        def kill_soon() -> None:  # once the victim is simulating (its CPU time grows), not after a fixed delay
            wait_for(lambda: cpu_seconds(victim) > idle_cpu + 0.2, what="the victim worker to be simulating",
                     interval_s=0.01)
            os.kill(victim, signal.SIGKILL)

        killer = threading.Thread(target=kill_soon)
        killer.start()
        batch = DistributedQVM(registry, shots=8, seed=5, chunk_shots=4).run_batch(circuits)
        killer.join()
        assert not alive(victim) and pool.stats()["crashes"] >= 1
        reference = DistributedQVM(registry, mode=QVMMode.LOCAL, shots=8, seed=5, chunk_shots=4).run_batch(circuits)
    assert [sum(r.counts.values()) for r in batch] == [8] * 6
    assert [r.counts for r in batch] == [r.counts for r in reference]


def test_a_poison_circuit_fails_alone_and_the_nodes_are_not_blamed(monkeypatch):
    """A circuit that kills its worker (twice) fails; the others complete; both nodes stay in use."""
    original = WorkerProcess.exchange
    runs = []

    def exchange(self, chunks, timeout_s):  # a worker that runs the 333-shot chunk dies, as on a segfault
        if chunks and chunks[0].shots == 333:
            runs.append(self.pid)
            threading.Timer(0.2, os.kill, (self.pid, signal.SIGKILL)).start()
        return original(self, chunks, timeout_s)

    monkeypatch.setattr(WorkerProcess, "exchange", exchange)
    poison = loop_circuit(5000, "poison")
    good = [loop_circuit(1, f"good{i}") for i in range(4)]
    with ClusterBuilder().add("local_cpu", n_nodes=2).build() as registry:
        qvm = DistributedQVM(registry, shots=333, seed=3)
        with pytest.raises(DispatchError, match="killed an Aer worker 2 times") as caught:
            qvm.run_batch([poison])
        assert len(runs) == 2  # tried once more, then given up: not sent to every node again and again
        assert "dropping" not in str(caught.value)
        assert [stats["failures"] for stats in caught.value.partial.per_node.values()] == [0, 0]
        with pytest.raises(DispatchError, match="4 of 20 chunk") as caught:  # the poison circuit's 4 chunks
            DistributedQVM(registry, shots=100, seed=3, chunk_shots=25).run_batch(good + [poison])
        assert all(node.online for node in registry.nodes)
    assert len(runs) == 2  # remembered: never run again
    message, partial = str(caught.value), caught.value.partial
    assert "(poison)" in message and "good" not in message  # only the poison circuit is reported failed
    assert [sum(r.counts.values()) for r in partial.results[:4]] == [100] * 4  # the others all completed
    assert partial.results[4].name == "poison" and not partial.results[4].counts and not partial.results[4].chunks
    assert {c.node_id for r in partial.results[:4] for c in r.chunks} == {"local-cpu-0", "local-cpu-1"}
    assert [stats["failures"] for stats in partial.per_node.values()] == [0, 0]  # no node was blamed

