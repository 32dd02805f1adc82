"""Noise over the bridge: the same noisy chunks give the same counts as local nodes; a bridge
without noise support is refused rather than silently simulating ideal circuits."""

from __future__ import annotations

import httpx
import pytest
from sample_circuits import ghz
from spec_only_server import SpecOnlyServer

from qcos.exceptions import DispatchError
from qcos.providers import ClusterBuilder
from qcos.qvm import DistributedQVM
from qcos.results.fidelity import fidelity, ideal_distribution

pytestmark = pytest.mark.slow

NOISE = {"depolarizing": {"p1": 0.002, "p2": 0.05}, "readout": 0.02}


def test_bridge_announces_noise_and_rejects_a_bad_spec(bridge):
    headers = {"Authorization": f"Bearer {bridge.api_key}"}
    assert httpx.get(f"{bridge.url}/health", headers=headers, timeout=30).json()["noise"] is True
    body = {"qasm": 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\nc[0] = measure q[0];\n',
            "shots": 10, "noise": {"depolarizing": {"p3": 0.1}}}
    answer = httpx.post(f"{bridge.url}/run-circuit", json=body, headers=headers, timeout=30)
    assert answer.status_code == 422
    assert "noise.depolarizing: unknown key(s) 'p3'" in answer.json()["detail"]


def test_noisy_counts_through_the_bridge_equal_local_nodes(bridge):
    circuits = [ghz(5), ghz(3)]
    builder = ClusterBuilder().add("custom_rest", endpoints=[bridge.url] * 2, max_qubits=12, api_key=bridge.api_key)
    with builder.build() as registry:
        remote = DistributedQVM(registry, shots=2000, seed=5, chunk_shots=400, noise=NOISE).run(circuits)
    with ClusterBuilder().add("local_cpu", n_nodes=2).build() as local_registry:
        local = DistributedQVM(local_registry, shots=2000, seed=5, chunk_shots=400, noise=NOISE).run(circuits)
        ideal = DistributedQVM(local_registry, shots=2000, seed=5, chunk_shots=400).run(circuits)
    assert [r.counts for r in remote] == [r.counts for r in local]
    assert fidelity(remote[0].counts, ideal_distribution(ghz(5))) < 0.95
    assert fidelity(ideal[0].counts, ideal_distribution(ghz(5))) > 0.98
    assert remote[0].metadata["noise"] == NOISE


def test_custom_rest_refuses_noisy_chunks_for_a_bridge_without_noise():
    with SpecOnlyServer() as server:
        with ClusterBuilder().add("custom_rest", endpoints=[server.url], max_qubits=10, retries=0).build() as registry:
            with pytest.raises(DispatchError) as error:
                DistributedQVM(registry, shots=100, seed=1, noise=NOISE).run(ghz(3))
        assert server.requests == []  # nothing was sent
    assert "does not announce noise support" in str(error.value)
