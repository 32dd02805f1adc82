"""A frozen bridge (SIGSTOP: no FIN, no RST, the port still accepts) is noticed in seconds, not hours."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from helpers.bridge import BridgeProcess
from sample_circuits import basis

from qcos.providers import ClusterBuilder
from qcos.qvm import DistributedQVM

pytestmark = pytest.mark.slow

N_CIRCUITS, SHOTS, SEED = 400, 64, 11


def _expected(index: int) -> dict[str, int]:
    return {format(index % 256, "08b"): SHOTS}


def _run_in_thread(registry) -> tuple[threading.Thread, dict]:  # type: ignore[no-untyped-def]
    box: dict = {}

    def run() -> None:
        try:
            box["results"] = DistributedQVM(registry, shots=SHOTS, seed=SEED, progress=False).run_batch(
                [basis(i) for i in range(N_CIRCUITS)])
        except BaseException as error:  # handed to the test
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def test_sigstopped_bridge_among_two_is_detected_and_its_chunks_requeued(bridge_log_dir):
    """Default settings (timeout_s=60, batches of up to 256 chunks): the run ends within minutes
    (3x its normal time + 2 min, generous for a loaded machine) where the old read timeout
    (60 s x chunks) meant hours."""
    bridges = [BridgeProcess(bridge_log_dir, "--workers", "1", name=f"live{i}").start() for i in range(2)]
    victim = bridges[1]
    try:
        with ClusterBuilder().add("custom_rest", endpoints=[b.url for b in bridges]).build() as registry:
            started = time.monotonic()
            thread, box = _run_in_thread(registry)
            thread.join(600)
            normal_s = time.monotonic() - started
            assert "results" in box, box.get("error")

        with ClusterBuilder().add("custom_rest", endpoints=[b.url for b in bridges]).build() as registry:
            provider = registry.provider_for("custom-rest-1")
            real_post = provider._post
            stopped = threading.Event()

            def freeze_victim_then_post(node, path, payload, **kwargs):  # type: ignore[no-untyped-def]
                if node.credentials["endpoint"] == victim.url and not stopped.is_set():
                    os.kill(victim.process.pid, signal.SIGSTOP)  # the request below finds it frozen
                    stopped.set()
                return real_post(node, path, payload, **kwargs)

            provider._post = freeze_victim_then_post
            started = time.monotonic()
            thread, box = _run_in_thread(registry)
            deadline_s = 3 * normal_s + 120
            thread.join(deadline_s)
            print(f"normal run {normal_s:.1f}s; with a frozen bridge {time.monotonic() - started:.1f}s")
            assert stopped.is_set(), "the frozen bridge was never asked"
            assert not thread.is_alive(), f"the run did not end within {deadline_s:.0f}s (normal {normal_s:.1f}s)"
            assert "results" in box, box.get("error")
            assert not registry.nodes[1].online and "stopped answering" in registry.nodes[1].offline_reason
    finally:
        if victim.process is not None and victim.process.poll() is None:
            os.kill(victim.process.pid, signal.SIGCONT)
        for bridge in bridges:
            bridge.stop()
    results = box["results"]
    assert [r.counts for r in results] == [_expected(i) for i in range(N_CIRCUITS)]
    assert {chunk.node_id for r in results for chunk in r.chunks} == {"custom-rest-0"}


def test_a_busy_but_live_bridge_is_not_cut_off(bridge):
    """Long batches on a bridge that still answers /health run to the end, however short liveness_s is."""
    from sample_circuits import ghz

    circuits = [ghz(12, name=f"g{i}") for i in range(40)]
    with ClusterBuilder().add("custom_rest", endpoints=[bridge.url], api_key=bridge.api_key, liveness_s=0.5,
                              batch=True).build() as registry:
        provider = registry.provider_for("custom-rest-0")
        provider.health_check()  # learn that it is a qcos bridge: its requests are watched
        results = DistributedQVM(registry, shots=100_000, chunk_shots=100_000, seed=3, progress=False,
                                 max_batch=40).run_batch(circuits)
        assert registry.nodes[0].online
    assert all(sum(r.counts.values()) == 100_000 and set(r.counts) <= {"0" * 12, "1" * 12} for r in results)
