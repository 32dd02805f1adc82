"""Interop: custom_rest against a spec-only server and against ``qcos bridge serve``; curl as in the spec."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from bridge_helpers import GHZ3, ghz
from helpers import skip_or_fail
from sample_circuits import ghz as ghz_circuit
from spec_only_server import SpecOnlyServer

from qcos.circuits.qasm import loads
from qcos.exceptions import DispatchError, NodeExecutionError
from qcos.providers import ClusterBuilder
from qcos.providers.rest import CustomRESTProvider
from qcos.qvm import DistributedQVM, QVMMode

pytestmark = pytest.mark.slow


# -- provider <-> an independent, spec-only server -------------------------------------
def test_provider_runs_on_a_spec_only_server():
    with SpecOnlyServer(api_key="spec-key") as server:
        registry = ClusterBuilder().add(
            "custom_rest", endpoints=[server.url] * 3, max_qubits=10, api_key="spec-key", timeout_s=30
        ).build()
        with registry:
            assert [n.node_id for n in registry.nodes] == ["custom-rest-0", "custom-rest-1", "custom-rest-2"]
            assert all(n.online for n in registry.nodes)
            qvm = DistributedQVM(registry, mode=QVMMode.EMULATED, shots=3000, seed=3, chunk_shots=500)
            results = qvm.run([ghz_circuit(4), ghz_circuit(3)])
        assert [sum(r.counts.values()) for r in results] == [3000, 3000]
        assert set(results[0].counts) == {"0000", "1111"} and set(results[1].counts) == {"000", "111"}
        # The spec-only server has no batch endpoint: one POST /run-circuit per chunk, with seeds.
        assert len(server.requests) == 12
        assert all(set(r) == {"qasm", "shots", "seed"} and r["qasm"].startswith("OPENQASM 3.0;") for r in server.requests)


def test_wrong_key_on_a_spec_only_server_names_the_endpoint():
    with SpecOnlyServer(api_key="right") as server:
        provider = CustomRESTProvider()
        node = provider.build_nodes(endpoints=[server.url], api_key="wrong", retries=0)[0]
        with pytest.raises(NodeExecutionError) as error:
            provider.execute(ghz_circuit(2), 10, node)
        provider.close()
    assert server.url in str(error.value) and "401" in str(error.value) and "wrong" not in str(error.value)


# -- provider <-> qcos bridge serve -----------------------------------------------------
@pytest.mark.parametrize("chunk_shots", [500, "auto"])
def test_provider_uses_the_batch_endpoint_and_matches_local_counts(bridge, chunk_shots):
    circuits = [ghz_circuit(2 + i % 5) for i in range(12)]
    builder = ClusterBuilder().add("custom_rest", endpoints=[bridge.url] * 2, max_qubits=20, api_key=bridge.api_key)
    with builder.build() as registry:
        provider = registry.provider_for("custom-rest-0")
        assert isinstance(provider, CustomRESTProvider)
        # /health said max_qubits 12, so the nodes were lowered to it.
        assert all(n.max_qubits == 12 for n in registry.nodes)
        paths: list[str] = []
        real_post = provider._post

        def spy(node, path, payload, **kwargs):
            paths.append(path)
            return real_post(node, path, payload, **kwargs)

        provider._post = spy
        remote = DistributedQVM(registry, shots=2000, seed=11, chunk_shots=chunk_shots).run(circuits)
    assert "/run-batch" in paths
    with ClusterBuilder().add("local_cpu").build() as local_registry:
        local = DistributedQVM(local_registry, shots=2000, seed=11, chunk_shots=chunk_shots).run(circuits)
    assert [r.counts for r in remote] == [r.counts for r in local]
    assert all(len(r.chunks) == (4 if chunk_shots == 500 else 1) for r in remote)  # "auto": one simulation


def test_bridge_errors_surface_with_the_endpoint(bridge):
    provider = CustomRESTProvider()
    node = provider.build_nodes(endpoints=[bridge.url], api_key=bridge.api_key, max_qubits=30)[0]
    wide = ghz_circuit(13)
    with pytest.raises(NodeExecutionError) as error:
        provider.execute(wide, 10, node)
    assert bridge.url in str(error.value) and "422" in str(error.value) and "at most 12" in str(error.value)
    outcomes = provider.execute_batch(
        [_task(ghz_circuit(2), 10, 0), _task(wide, 10, 1), _task(ghz_circuit(3), 20, 2)], node
    )
    assert sum(outcomes[0].values()) == 10 and sum(outcomes[2].values()) == 20
    assert isinstance(outcomes[1], NodeExecutionError) and "at most 12" in str(outcomes[1])
    provider.close()


def test_a_failing_circuit_fails_the_run_with_the_reason(bridge):
    bad = loads('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\nc[0] = measure q[0];\n')
    bad.name = "bad"
    builder = ClusterBuilder().add("custom_rest", endpoints=[bridge.url], api_key="not-the-key", retries=0)
    with builder.build() as registry, pytest.raises(DispatchError) as error:
        DistributedQVM(registry, shots=10).run(bad)
    assert "401" in str(error.value)


# -- curl, as the spec shows it ------------------------------------------------------------
def test_curl_with_a_bearer_token(bridge, tmp_path):
    curl = shutil.which("curl")
    if curl is None:
        skip_or_fail("curl is not installed (apt-get install curl)")
    health = subprocess.run([curl, "-sS", f"{bridge.url}/health"], capture_output=True, text=True, timeout=30)
    assert json.loads(health.stdout)["status"] == "ok"
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"qasm": GHZ3, "shots": 1024}))
    out = subprocess.run(
        [curl, "-sS", "-w", "\n%{http_code}", "-X", "POST", f"{bridge.url}/run-circuit",
         "-H", "Content-Type: application/json", "-H", f"Authorization: Bearer {bridge.api_key}",
         "--data-binary", f"@{body}"],
        capture_output=True, text=True, timeout=30,
    )
    payload, status = out.stdout.rsplit("\n", 1)
    assert status == "200", out.stdout + out.stderr
    counts = json.loads(payload)["counts"]
    assert set(counts) <= {"000", "111"} and sum(counts.values()) == 1024
    refused = subprocess.run(
        [curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", f"{bridge.url}/run-circuit",
         "-H", "Content-Type: application/json", "--data-binary", f"@{body}"],
        capture_output=True, text=True, timeout=30,
    )
    assert refused.stdout == "401"
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({"circuits": [{"qasm": ghz(2), "shots": 5}, {"qasm": GHZ3, "shots": 7}]}))
    out = subprocess.run(
        [curl, "-sS", "-X", "POST", f"{bridge.url}/run-batch", "-H", "Content-Type: application/json",
         "-H", f"Authorization: Bearer {bridge.api_key}", "--data-binary", f"@{batch}"],
        capture_output=True, text=True, timeout=30,
    )
    assert [sum(r["counts"].values()) for r in json.loads(out.stdout)["results"]] == [5, 7]


def _task(circuit, shots, index):
    from qcos.providers.base import ShotTask

    return ShotTask(circuit, shots, seed=index, circuit_index=index)
