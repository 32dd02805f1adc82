"""Failover: a DistributedQVM over three real bridges keeps exact totals when one dies or is down."""

from __future__ import annotations

import pytest
from helpers import free_port, wait_for
from helpers.bridge import BridgeProcess
from helpers.processes import alive
from sample_circuits import ghz as ghz_circuit

from qcos.providers import ClusterBuilder
from qcos.qvm import DistributedQVM

pytestmark = pytest.mark.slow

SHOTS, CHUNK, SEED = 4000, 1000, 5


CIRCUITS = [ghz_circuit(2 + i % 6) for i in range(24)]


@pytest.fixture(scope="module")
def steady(bridge_log_dir):
    """Two bridges (one worker each) that stay up for the whole module."""
    servers = [BridgeProcess(bridge_log_dir, "--workers", "1", name=f"steady{i}") for i in range(2)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def reference(steady):
    """The counts a healthy cluster gives for the same seed (chunk seeds do not depend on nodes)."""
    with ClusterBuilder().add("custom_rest", endpoints=[s.url for s in steady]).build() as registry:
        return [r.counts for r in DistributedQVM(registry, shots=SHOTS, seed=SEED, chunk_shots=CHUNK).run(CIRCUITS)]


@pytest.mark.parametrize(("batch", "kill_on_call"), [(False, 3), (True, 2)])
def test_endpoint_killed_mid_run(steady, reference, bridge_log_dir, batch, kill_on_call):
    victim = BridgeProcess(bridge_log_dir, "--workers", "1", name="victim").start()
    endpoints = [steady[0].url, steady[1].url, victim.url]
    builder = ClusterBuilder().add("custom_rest", endpoints=endpoints, retries=1, backoff_s=0.05, batch=batch)
    try:
        with builder.build() as registry:
            assert all(n.online for n in registry.nodes)
            provider = registry.provider_for("custom-rest-2")
            calls = {"victim": 0}
            real_post = provider._post

            def post_then_kill(node, path, payload, **kwargs):
                if node.credentials["endpoint"] == victim.url:
                    calls["victim"] += 1
                    if calls["victim"] == kill_on_call:
                        victim.kill()  # SIGKILL the whole server: this and later requests find nobody
                return real_post(node, path, payload, **kwargs)

            provider._post = post_then_kill
            batch_result = DistributedQVM(registry, shots=SHOTS, seed=SEED, chunk_shots=CHUNK).run_batch(CIRCUITS)
    finally:
        victim.stop()
    assert calls["victim"] >= kill_on_call and victim.process.returncode is not None
    assert [sum(r.counts.values()) for r in batch_result] == [SHOTS] * len(CIRCUITS)
    assert [r.counts for r in batch_result] == reference
    used = {chunk.node_id for result in batch_result for chunk in result.chunks}
    assert {"custom-rest-0", "custom-rest-1"} <= used


def test_endpoint_down_from_the_start_is_offline_and_unused(steady, reference, bridge_log_dir):
    late = BridgeProcess(bridge_log_dir, "--workers", "1", name="late")  # port chosen, not started yet
    endpoints = [steady[0].url, steady[1].url, late.url]
    try:
        with ClusterBuilder().add("custom_rest", endpoints=endpoints).build() as registry:
            down = registry["custom-rest-2"]
            assert not down.online
            assert "endpoint unhealthy" in down.offline_reason and late.url in down.offline_reason
            assert registry.status_report()["online_nodes"] == 2
            provider = registry.provider_for("custom-rest-0")
            assert late.url in (provider.health_reason or "")
            result = DistributedQVM(registry, shots=SHOTS, seed=SEED, chunk_shots=CHUNK).run_batch(CIRCUITS)
            assert [r.counts for r in result] == reference
            assert "custom-rest-2" not in {c.node_id for r in result for c in r.chunks}
            late.start()  # the endpoint comes up: the next health check brings the node back
            registry.refresh_health()
            assert down.online and down.offline_reason is None
    finally:
        late.stop()


def test_all_endpoints_down_marks_the_provider_unhealthy():
    url = f"http://127.0.0.1:{free_port()}"
    with ClusterBuilder().add("custom_rest", endpoints=[url, url]).build() as registry:
        assert not any(n.online for n in registry.nodes)
        report = registry.status_report()
        assert report["online_nodes"] == 0 and url in registry.nodes[0].offline_reason


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_no_worker_outlives_its_server(bridge_log_dir, how):
    server = BridgeProcess(bridge_log_dir, "--workers", "2", name=f"lifetime-{how}").start()
    pids = server.health()["worker_pids"]
    assert len(pids) == 2
    getattr(server, how)()  # SIGTERM: graceful shutdown stops them; SIGKILL: they see the channel close
    wait_for(lambda: not any(alive(pid) for pid in pids), 60.0, "every worker to exit with its server")
