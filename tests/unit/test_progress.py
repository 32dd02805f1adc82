"""Dispatch progress: a log line at least every interval while chunks are outstanding."""

from __future__ import annotations

import logging
import threading

import pytest
from qiskit import QuantumCircuit

from qcos.providers.cluster import ClusterBuilder
from qcos.qvm import DistributedQVM
from qcos.qvm.progress import DispatchProgress, ProgressState, format_line


def test_line_names_done_total_busy_nodes_and_extras() -> None:
    state = ProgressState(done=30, failed=1, pending=60, inflight=10, busy=["n-0", "n-1"], nodes=4)
    line = format_line(state, 100, 20.0, ["slurm qcos: array task(s) 2 pending, 3 running"])
    assert line.startswith("dispatch: 30/100 chunks done (30%)")
    for part in ("10 in flight on 2/4 busy node(s) [n-0, n-1]", "60 waiting", "1 failed", "20 s elapsed",
                 "~47 s left", "2 pending, 3 running"):
        assert part in line, (part, line)


def test_reporter_logs_until_closed(caplog: pytest.LogCaptureFixture) -> None:
    emitted = threading.Event()

    class _Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            emitted.set()

    handler = _Handler()
    logging.getLogger("qcos.progress").addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="qcos.progress"):
            progress = DispatchProgress(10, lambda: ProgressState(3, 0, 7, 0, [], 1), interval_s=0.05, bar=False)
            progress.start()
            assert emitted.wait(30)
            progress.close()
    finally:
        logging.getLogger("qcos.progress").removeHandler(handler)
    assert any("dispatch: 3/10 chunks done" in r.getMessage() for r in caplog.records)


def test_a_slow_dispatch_logs_progress_lines(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QCOS_PROGRESS_S", "0.2")
    circuit = QuantumCircuit(1, 1)
    circuit.measure(0, 0)
    with caplog.at_level(logging.INFO, logger="qcos.progress"), \
            ClusterBuilder().add("mock", n_nodes=2, latency_s=0.1).build() as registry:
        result = DistributedQVM(registry, shots=2000, chunk_shots=100, seed=1, progress=False).run(circuit)
    assert sum(result.counts.values()) == 2000
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("dispatch: ")]
    assert lines and all("/20 chunks done" in line for line in lines), lines
