"""The shared worker runtime with real worker processes: results, timeouts, crashes, poison, memory."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from helpers import wait_for
from helpers.processes import alive
from sample_circuits import ghz

from qcos.workers import (
    MEMORY,
    OK,
    POISON,
    QASM,
    SIMULATION,
    TIMEOUT,
    Chunk,
    WorkerConfig,
    WorkerPool,
    qpy_bytes,
    simulator,
)
from qcos.workers.process import WorkerProcess

GHZ3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nbit[3] c;\nh q[0];\ncx q[0], q[1];\ncx q[1], q[2];\nc = measure q;\n'


def slow(iterations: int) -> str:
    """A tiny program Aer cannot sample away: it simulates every loop iteration (~70 us per
    iteration and shot here)."""
    return ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
            f"for int i in [0:{iterations}] {{ h q[0]; cx q[0], q[1]; }}\nc = measure q;\n")


@pytest.fixture(scope="module")
def pool():
    with WorkerPool(WorkerConfig(base_options={"max_parallel_threads": 1}, label="test"), 2) as pool:
        pool.start()
        yield pool


def test_counts_equal_in_process_counts_for_qpy_and_qasm(pool):
    circuit = simulator.prepare(ghz(3))
    chunks = [Chunk(qpy_bytes(circuit), 500, 11), Chunk(qpy_bytes(circuit), 300, 12), Chunk(GHZ3, 400, 13)]
    outcomes = pool.run(chunks)
    assert all(o.code == OK for o in outcomes)
    assert [o.counts for o in outcomes[:2]] == [simulator.run_counts(circuit, 500, 11), simulator.run_counts(circuit, 300, 12)]
    assert sum(outcomes[2].counts.values()) == 400 and set(outcomes[2].counts) <= {"000", "111"}


def test_options_are_passed_to_aer_and_a_bad_chunk_fails_alone(pool):
    outcomes = pool.run([Chunk(GHZ3, 10, 1, {"method": "no_such_method"}), Chunk(GHZ3, 10, 1, {"method": "stabilizer"}),
                         Chunk("not qasm", 10), Chunk(GHZ3, 10, 1)])
    assert [o.code for o in outcomes] == [SIMULATION, OK, QASM, OK]
    assert "\n" not in outcomes[0].message and "\n" not in outcomes[2].message


@pytest.mark.parametrize("program, needle", [
    ('OPENQASM 3.0;\ninclude "stdgates.inc";\nconst uint n = 2;\nqubit[n] q;\nbit[2] c;\nc = measure q;\n', ""),
    ('OPENQASM 3.0;\nqubit[1] q;\nbit[1] c;\nrx(' + "(" * 100_000 + "0.5" + ")" * 100_000 + ") q[0];\nc = measure q;\n",
     "nested"),
    ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\n' + "if (c[0]) { " * 5000 + "x q[0];"
     + " }" * 5000 + "\nc = measure q;\n", "nested"),
    ('OPENQASM 3.0;\ninclude "stdgates.inc";\ngate g0 a { x a; }\n'
     + "".join(f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}\n" for i in range(1, 61))
     + "qubit[1] q;\nbit[1] c;\ng60 q[0];\nc = measure q;\n", "expands"),
])
def test_hostile_programs_are_answered_without_killing_a_worker(pool, program, needle):
    pids = pool.pids()
    outcome = pool.run([Chunk(program, 10)])[0]
    assert outcome.code in (QASM, "circuit") and needle in outcome.message
    assert "\n" not in outcome.message
    assert pool.pids() == pids and pool.stats()["crashes"] == 0


def test_a_timeout_kills_and_replaces_the_worker(pool):
    before = set(pool.pids())
    outcome = pool.run([Chunk(slow(50_000_000), 10)], timeout_s=1.0)[0]
    assert outcome.code == TIMEOUT and "1s" in outcome.message
    assert len(before - set(pool.pids())) == 1  # that worker is gone at once...
    assert not any(alive(pid) for pid in before - set(pool.pids()))
    assert pool.run([Chunk(GHZ3, 20, 1)])[0].code == OK  # ...and the pool goes on
    wait_for(lambda: len(pool.pids()) == 2, what="the replacement worker")


@pytest.fixture
def crashing(monkeypatch):
    """``crashing(payload, times)``: a worker that runs ``payload`` is SIGKILLed mid-chunk, ``times`` times."""
    left: dict[str, int] = {}
    original = WorkerProcess.exchange

    def exchange(self, chunks, timeout_s):
        first = chunks[0].circuit if chunks else None
        if left.get(first, 0) > 0:
            left[first] -= 1
            threading.Timer(0.3, os.kill, (self.pid, signal.SIGKILL)).start()
        return original(self, chunks, timeout_s)

    monkeypatch.setattr(WorkerProcess, "exchange", exchange)
    return left.__setitem__


def test_a_worker_killed_mid_chunk_reruns_the_chunk_on_another_worker(pool, crashing):
    victim = slow(5000)
    crashing(victim, 1)
    crashes = pool.stats()["crashes"]
    outcomes = pool.run([Chunk(victim, 4, 7), Chunk(GHZ3, 100, 1)])
    assert [o.code for o in outcomes] == [OK, OK]
    assert sum(outcomes[0].counts.values()) == 4 and sum(outcomes[1].counts.values()) == 100
    assert pool.stats()["crashes"] == crashes + 1


def test_a_circuit_that_kills_two_workers_is_poison_and_remembered(pool, crashing):
    poison = slow(5001)
    crashing(poison, 2)
    outcomes = pool.run([Chunk(poison, 4), Chunk(GHZ3, 30, 2)])
    assert outcomes[0].code == POISON and "2 times" in outcomes[0].message and outcomes[0].circuit_caused
    assert outcomes[1].code == OK and sum(outcomes[1].counts.values()) == 30
    crashes, pids = pool.stats()["crashes"], pool.pids()
    again = pool.run([Chunk(poison, 4)])[0]
    assert again.code == POISON  # answered from memory: run now, it would succeed (no kills are left)
    assert pool.stats()["poison"] == 1
    assert pool.stats()["crashes"] == crashes and pool.pids() == pids


def test_an_over_cap_circuit_is_out_of_memory_for_that_circuit():
    program = ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[28] q;\nbit[28] c;\n'
               + "".join(f"rx(0.3) q[{i}];\n" for i in range(28)) + "cx q[0], q[1];\nc = measure q;\n")
    with WorkerPool(WorkerConfig(base_options={"max_parallel_threads": 1}, memory_mb=2048), 1) as pool:
        pool.start()
        limits = Path(f"/proc/{pool.pids()[0]}/limits").read_text()
        assert str(2048 * 2**20) in next(line for line in limits.splitlines() if "address space" in line)
        outcomes = pool.run([Chunk(program, 10, 1), Chunk(GHZ3, 10, 1)])
        assert outcomes[0].code == MEMORY and "2048 MiB" in outcomes[0].message
        assert outcomes[1].code == OK and pool.stats()["crashes"] == 0


def test_workers_started_from_a_short_lived_thread_outlive_it():
    """PR_SET_PDEATHSIG follows the forking *thread*: workers are forked by one long-lived launcher."""
    worker = WorkerProcess(WorkerConfig(base_options={"max_parallel_threads": 1}), 0)
    thread = threading.Thread(target=worker.start)
    thread.start()
    thread.join()
    try:
        time.sleep(0.5)
        assert worker.alive()
        outcomes, replace = worker.exchange([Chunk(GHZ3, 10, 1)], 60)
        assert outcomes[0].code == OK and not replace
    finally:
        worker.stop()
    assert not worker.alive()


def test_a_pool_that_cannot_start_says_why():
    from qcos.exceptions import WorkerError

    with pytest.raises(WorkerError, match="could not start"):
        WorkerPool(WorkerConfig(python="/bin/false", startup_timeout_s=20), 1).start()


def test_a_worker_of_another_qcos_version_refuses_to_start(monkeypatch):
    from qcos.exceptions import WorkerError
    from qcos.workers import jobs

    monkeypatch.setattr(jobs, "PROTOCOL", jobs.PROTOCOL - 1)
    with pytest.raises(WorkerError, match="upgraded under a running program"):
        WorkerPool(WorkerConfig(), 1).start()
