"""SSHBridgeProvider logic without a network: argument checks and re-sending after a reconnect."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import free_port
from qiskit import QuantumCircuit

from qcos.exceptions import ClusterBuildError, EndpointUnreachable
from qcos.providers.base import ShotTask
from qcos.providers.cluster import ClusterBuilder
from qcos.providers.rest import CustomRESTProvider, build_rest_nodes
from qcos.providers.ssh_bridge import SSHBridgeProvider, _safe_host


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_workers": 0}, "n_workers must be a positive integer"),
        ({"remote_port": 70000}, "remote_port must be a TCP port"),
        ({"local_port": -1}, "local_port must be a TCP port"),
        ({"host": ""}, "host must be an ssh config alias"),
    ],
)
def test_bad_arguments_fail_before_any_connection(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ClusterBuildError, match=message):
        ClusterBuilder().add("ssh_bridge", **{"host": "lumi", **kwargs}).build()


def test_unknown_argument_lists_the_valid_ones() -> None:
    with pytest.raises(ClusterBuildError, match=r"(?s)unknown argument.*n_workers.*host_key_policy"):
        ClusterBuilder().add("ssh_bridge", host="lumi", workers=8).build()


def test_node_ids_use_a_safe_host_name() -> None:
    assert _safe_host("alice@lumi.csc.fi:22") == "alice-lumi.csc.fi-22"


class _FakeTunnel:
    state = "connected"
    local_url = "http://127.0.0.1:1"

    def __init__(self) -> None:
        self.waits = 0

    def wait_connected(self, timeout: float) -> bool:
        self.waits += 1
        return True


def test_chunks_cut_off_by_a_drop_are_resent_once_the_tunnel_is_back(monkeypatch: pytest.MonkeyPatch) -> None:
    circuit = QuantumCircuit(1, 1)
    circuit.measure(0, 0)
    tasks = [ShotTask(circuit, 10, seed=i, chunk_index=i) for i in range(3)]
    node = build_rest_nodes(["http://127.0.0.1:1"], id_prefix="ssh-x")[0]
    calls: list[int] = []

    def fake_batch(self: CustomRESTProvider, batch: list[ShotTask], spec: Any) -> list[Any]:
        calls.append(len(batch))
        if len(calls) == 1:  # the connection dropped under the 2nd and 3rd chunk
            return [{"0": 10}, EndpointUnreachable(spec.node_id, "reset"), EndpointUnreachable(spec.node_id, "reset")]
        return [{"0": 10} for _ in batch]

    monkeypatch.setattr(CustomRESTProvider, "execute_batch", fake_batch)
    provider = SSHBridgeProvider()
    tunnel = _FakeTunnel()
    provider._tunnel = tunnel  # type: ignore[assignment]
    outcomes = provider.execute_batch(tasks, node)
    assert outcomes == [{"0": 10}] * 3
    assert calls == [3, 2] and tunnel.waits == 1


def test_unreachable_host_marks_nodes_offline_and_the_local_fallback_runs(tmp_path: Any) -> None:
    from qcos.qvm import DistributedQVM
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    builder = (
        ClusterBuilder()
        .add("ssh_bridge", host="127.0.0.1", port=free_port(), n_workers=2, known_hosts=str(known_hosts),
             connect_timeout_s=5, reconnect_wait_s=0)
        .add("local_cpu", n_nodes=1)
    )
    with builder.build() as registry:
        report = registry.status_report()
        ssh_nodes = [n for n in report["nodes"] if n["provider"] == "ssh_bridge"]
        assert len(ssh_nodes) == 2 and not any(n["online"] for n in ssh_nodes)
        assert all("SSH tunnel" in n["offline_reason"] for n in ssh_nodes), ssh_nodes
        result = DistributedQVM(registry, shots=200, seed=3).run(circuit)
    assert sum(result.counts.values()) == 200
    assert result.chunks and not any(chunk.node_id.startswith("ssh-") for chunk in result.chunks)
