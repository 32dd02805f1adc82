"""Local nodes' workers as real processes: they die with their parent, honour chunk_timeout_s,
survive a killed worker with exact totals, and fail a poison circuit without blaming the node."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from qiskit import QuantumCircuit

from qcos import ClusterBuilder, DistributedQVM, QVMMode
from qcos.exceptions import DispatchError
from qcos.workers.process import WorkerProcess

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(root: int) -> set[int]:
    """Every live process whose parent chain leads to ``root``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(predicate, timeout_s: float = 180.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


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
        wait_for(lambda: len([p for p in descendants(parent.pid) if "qcos.workers.aer" in
                              Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")]) == 2,
                 what="two workers")
        time.sleep(1.0)  # mid-run: both workers are simulating
        tree = descendants(parent.pid)
        assert len(tree) >= 2
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 5.0
    while any(alive(pid) for pid in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in tree if alive(pid)], "processes outlived their parent by 5 s"


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
        wait_for(lambda: not [pid for pid in before if alive(pid)], 10.0, "the timed-out workers to be killed")
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

        def kill_soon() -> None:
            wait_for(lambda: pool.stats()["idle"] < 2, what="a busy worker")
            time.sleep(0.3)
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
        with pytest.raises(DispatchError, match="4 of 20 chunk") as caught:  # the poison circuit's 4 chunks
            DistributedQVM(registry, shots=100, seed=3, chunk_shots=25).run_batch(good + [poison])
    assert len(runs) == 2  # remembered: never run again
    partial = caught.value.partial
    assert [sum(r.counts.values()) for r in partial.results[:4]] == [100] * 4
    assert {c.node_id for r in partial.results[:4] for c in r.chunks} == {"local-cpu-0", "local-cpu-1"}

