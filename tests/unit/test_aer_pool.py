"""Warm Aer worker processes: results, reproducibility and recovery from a dead worker."""

from __future__ import annotations

import os
import signal

import pytest
from qiskit import QuantumCircuit

from qcos.exceptions import NodeExecutionError
from qcos.qvm import aer
from qcos.qvm.pool import AerProcessPool


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    return circuit


@pytest.fixture
def pool():
    pool = AerProcessPool(1)
    yield pool
    pool.close()


def test_pool_counts_equal_in_process_counts(pool):
    jobs = [(bell(), 500, 11), (bell(), 300, 12)]
    outcomes = pool.run(jobs, {}, "local-cpu-0")
    assert outcomes == [aer.run_counts(c, s, seed) for c, s, seed in jobs]


def test_a_failing_chunk_fails_alone(pool):
    unsupported = QuantumCircuit(1, 1)
    unsupported.measure(0, 0)
    outcomes = pool.run([(bell(), 100, 1), (unsupported, 100, 1)], {"method": "no_such_method"}, "n0")
    assert all(isinstance(o, NodeExecutionError) and "n0" in str(o) for o in outcomes)
    good = pool.run([(bell(), 100, 1)], {}, "n0")
    assert sum(good[0].values()) == 100


def test_a_killed_worker_fails_its_batch_then_the_pool_restarts(pool):
    pool.run([(bell(), 10, 1)], {}, "n0")  # start the worker
    for pid in list(pool._executor._processes):  # noqa: SLF001 - the test needs the worker's pid
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(NodeExecutionError, match="worker process died"):
        pool.run([(bell(), 10, 1)], {}, "n0")
    assert sum(pool.run([(bell(), 64, 2)], {}, "n0")[0].values()) == 64
