"""ssh_bridge end to end: DistributedQVM -> SSH tunnel (real sshd) -> real `qcos bridge serve`."""

from __future__ import annotations

import threading
import time

import pytest
from helpers import wait_for
from qiskit import QuantumCircuit
from sample_circuits import ghz

from qcos.exceptions import ClusterBuildError, HostKeyError
from qcos.providers.cluster import ClusterBuilder
from qcos.qvm import DistributedQVM
from qcos.tunnels.manager import cached_tunnels

from .conftest import BridgeProcess, SSHClientFiles, SSHServer, kill_connection, write_client_files

pytestmark = pytest.mark.ssh


def mixed(n: int) -> QuantumCircuit:
    circuit = QuantumCircuit(n, n, name=f"mixed{n}")
    for qubit in range(n):
        circuit.ry(0.3 + 0.4 * qubit, qubit)
    for qubit in range(1, n):
        circuit.cx(qubit - 1, qubit)
    circuit.measure(range(n), range(n))
    return circuit


def _ssh_bridge(files: SSHClientFiles, bridge: BridgeProcess, **extra: object) -> ClusterBuilder:
    kwargs = {"host": "qcos-test", "remote_port": bridge.port, "n_workers": 4, "api_key": bridge.api_key,
              "max_qubits": 20, "timeout_s": 60, **files.kwargs, **extra}
    return ClusterBuilder().add("ssh_bridge", **kwargs)


def test_qvm_over_ssh_bridge_nodes_gives_exact_counts(ssh_files: SSHClientFiles, bridge: BridgeProcess) -> None:
    circuits = [ghz(4), mixed(5)]
    with _ssh_bridge(ssh_files, bridge).build() as registry:
        assert [n.node_id for n in registry.nodes] == [f"ssh-qcos-test-{i}" for i in range(4)]
        assert all(n.online for n in registry.nodes)
        provider = registry.provider_for("ssh-qcos-test-0")
        assert provider.tunnel_status()["state"] == "connected"
        assert registry.status_report()["providers"]["ssh_bridge"]["status"]["state"] == "connected"
        assert len(cached_tunnels()) == 1  # four nodes, one tunnel
        qvm = DistributedQVM(registry, shots=4000, seed=11, chunk_shots=250)
        results = qvm.run(circuits)
    for result in results:
        assert sum(result.counts.values()) == 4000
        assert {c.node_id for c in result.chunks} <= {f"ssh-qcos-test-{i}" for i in range(4)}
        assert not any(c.fallback for c in result.chunks)
    assert set(results[0].counts) <= {"0000", "1111"}
    # The same seeds on local Aer give the very same counts: the tunnel changes nothing.
    with ClusterBuilder().add("local_cpu", n_nodes=2).build() as local:
        expected = DistributedQVM(local, shots=4000, seed=11, chunk_shots=250).run(circuits)
    assert [r.counts for r in results] == [r.counts for r in expected]
    assert cached_tunnels() == []  # registry.close() released the tunnel


def test_sshd_connection_killed_mid_run_reconnects_and_completes(
    sshd: SSHServer, ssh_files: SSHClientFiles, bridge: BridgeProcess
) -> None:
    circuits = [mixed(6), ghz(5)]
    shots = 24_000
    with _ssh_bridge(ssh_files, bridge).build() as registry:
        tunnel = registry.provider_for("ssh-qcos-test-0").tunnel
        qvm = DistributedQVM(registry, shots=shots, seed=5, chunk_shots=100, max_batch=2)
        killed: list[int] = []
        killed_at: list[float] = []

        def kill_when_busy() -> None:
            wait_for(lambda: tunnel.forwarder.accepted >= 4, 180, "4 connections through the tunnel",
                     interval_s=0.02)
            time.sleep(0.1)  # chunks in flight
            killed.extend(kill_connection(sshd, tunnel.connection.client_port()))
            killed_at.append(time.monotonic())

        killer = threading.Thread(target=kill_when_busy)
        killer.start()
        results = qvm.run(circuits)
        finished_at = time.monotonic()
        killer.join()
        assert killed, "the sshd child was not killed"
        assert killed_at[0] < finished_at, "the run ended before the connection was killed"
        assert tunnel.wait_connected(30)
        assert tunnel.connection.reconnects >= 1
        assert tunnel.forwarder.cut >= 1  # connections were cut mid-run, not just idle
        assert tunnel.state == "connected"
    for result in results:
        assert sum(result.counts.values()) == shots
    with ClusterBuilder().add("local_cpu", n_nodes=2).build() as local:
        expected = DistributedQVM(local, shots=shots, seed=5, chunk_shots=100).run(circuits)
    assert [r.counts for r in results] == [r.counts for r in expected]


def test_unknown_host_key_fails_the_build_with_advice(sshd: SSHServer, tmp_path, bridge: BridgeProcess) -> None:
    files = write_client_files(sshd, tmp_path, known=False)
    with pytest.raises(HostKeyError, match="ssh-keyscan"):
        _ssh_bridge(files, bridge).build()
    assert cached_tunnels() == []


def test_bad_kwargs_list_the_valid_ones(ssh_files: SSHClientFiles, bridge: BridgeProcess) -> None:
    with pytest.raises(ClusterBuildError, match="n_workers"):
        ClusterBuilder().add("ssh_bridge", host="qcos-test", n_wrokers=2).build()
    with pytest.raises(ClusterBuildError, match="n_workers must be a positive integer"):
        _ssh_bridge(ssh_files, bridge, n_workers=0).build()


def test_health_reports_the_tunnel_and_nodes_come_back(
    sshd: SSHServer, ssh_files: SSHClientFiles, bridge: BridgeProcess
) -> None:
    with _ssh_bridge(ssh_files, bridge).build() as registry:
        provider = registry.provider_for("ssh-qcos-test-0")
        tunnel = provider.tunnel
        # Health checked right after the connection dies: it waits for the reconnect.
        kill_connection(sshd, tunnel.connection.client_port())
        assert registry.refresh_health() == {f"ssh-qcos-test-{i}": True for i in range(4)}
        assert tunnel.connection.reconnects >= 1
        status = provider.tunnel_status()
        assert status["state"] == "connected" and status["remote"] == f"localhost:{bridge.port}"
        # A tunnel closed under the provider is re-opened and the nodes re-pointed.
        tunnel.close()
        counts = DistributedQVM(registry, shots=200, seed=3).run(ghz(3)).counts
        assert sum(counts.values()) == 200
        assert provider.tunnel is not tunnel and provider.tunnel.state == "connected"
