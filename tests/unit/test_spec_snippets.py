"""Every snippet of the provider spec, with only its imports changed to qcos."""

from __future__ import annotations

import os
import socket
import stat
import textwrap

import pytest
from helpers import free_port
from qiskit import QuantumCircuit
from sample_circuits import ghz

# --- the spec's imports, changed to qcos -----------------------------------------
from qcos.network.distributed_qvm import DistributedQVM, NodeType, QPUNodeSpec, QVMMode
from qcos.network.node_providers import ClusterBuilder, NodeProvider, NodeProviderRegistry


class MyGPUProvider(NodeProvider):
    """On-premise NVIDIA DGX cluster."""
    DISPLAY_NAME = "My DGX Cluster"

    def build_nodes(self, **kwargs) -> list[QPUNodeSpec]:
        n_nodes = kwargs.get("n_nodes", 1)
        return [
            QPUNodeSpec(
                node_id=f"dgx-node-{i}",
                node_type=NodeType.GPU_AER,
                max_qubits=30,
                tags=["dgx", "on-premise"],
                credentials={"host": kwargs.get("host", "dgx-001.internal")},
            )
            for i in range(n_nodes)
        ]


def test_approach1_minimal_subclass_registers_and_builds_with_local_cpu():
    NodeProviderRegistry.register("my_dgx", MyGPUProvider)
    registry = (
        ClusterBuilder()
        .add("my_dgx", n_nodes=4, host="dgx-001.internal")
        .add("local_cpu", n_nodes=2)
        .build()
    )
    ids = [spec.node_id for spec in registry.nodes]
    assert ids == [f"dgx-node-{i}" for i in range(4)] + ["local-cpu-0", "local-cpu-1"]
    assert registry["dgx-node-2"].node_type is NodeType.GPU_AER
    assert NodeProviderRegistry.list()["my_dgx"] == "My DGX Cluster"
    report = registry.status_report()
    assert report["total_nodes"] == 6
    assert report["total_physical_qubits"] == 4 * 30 + 2 * registry["local-cpu-0"].max_qubits
    # credentials never show in repr (and so not in logs)
    assert "dgx-001.internal" not in repr(registry["dgx-node-0"])


def test_approach1_default_execute_falls_back_to_builtin_aer():
    NodeProviderRegistry.register("my_dgx", MyGPUProvider)
    registry = ClusterBuilder().add("my_dgx", n_nodes=2).build()
    result = DistributedQVM(registry, mode=QVMMode.EMULATED, shots=2048, seed=5).run(ghz())
    assert sum(result.counts.values()) == 2048
    assert set(result.counts) == {"000", "111"}
    assert set(result.node_ids) <= {"dgx-node-0", "dgx-node-1"}


@pytest.fixture
def dgx_runner(tmp_path, monkeypatch):
    """A fake `dgx-runner` on PATH, as the spec's execute() snippet calls one."""
    script = tmp_path / "dgx-runner"
    script.write_text(textwrap.dedent("""\
        #!/bin/sh
        # usage: dgx-runner --shots N --host H ; prints counts as 'bitstring=count' lines
        half=$(( $2 / 2 ))
        echo "0000=$half"
        echo "1111=$(( $2 - half ))"
    """))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return script


def parse_result(stdout: str) -> dict[str, int]:
    return {key: int(value) for key, value in (line.split("=") for line in stdout.split())}


def test_approach1_execute_override_runs_custom_logic(dgx_runner):
    class MyGPUProvider(NodeProvider):
        DISPLAY_NAME = "My DGX Cluster"

        def build_nodes(self, **kwargs) -> list[QPUNodeSpec]:
            return [QPUNodeSpec(node_id="dgx-node-0", node_type=NodeType.GPU_AER, max_qubits=30,
                                credentials={"host": kwargs.get("host", "dgx-001.internal")})]

        def execute(
            self,
            circuit: QuantumCircuit,
            shots: int,
            node_spec: QPUNodeSpec,
        ) -> dict[str, int] | None:
            """Custom execution — return counts dict or None to fall through."""
            host = node_spec.credentials.get("host")
            # run your custom GPU job here...
            import subprocess
            result = subprocess.run(
                ["dgx-runner", "--shots", str(shots), "--host", host],
                capture_output=True, text=True,
            )
            counts = parse_result(result.stdout)
            return counts  # e.g. {"0000": 512, "1111": 512}

    NodeProviderRegistry.register("my_dgx", MyGPUProvider)
    registry = ClusterBuilder().add("my_dgx").build()
    result = DistributedQVM(registry, shots=1024, seed=1).run(ghz(4))
    assert result.counts == {"0000": 512, "1111": 512}
    assert result.node_ids == ["dgx-node-0"]
    assert not result.chunks[0].fallback


@pytest.mark.parametrize("decline", ["none", "not_implemented"])
def test_execute_returning_none_or_raising_not_implemented_falls_back(decline):
    calls = []

    class Declining(NodeProvider):
        DISPLAY_NAME = "Declining"

        def build_nodes(self, **kwargs):
            return [QPUNodeSpec(node_id="declining-0", node_type=NodeType.CUSTOM, max_qubits=10)]

        def execute(self, circuit, shots, node_spec):
            calls.append(shots)
            if decline == "none":
                return None
            raise NotImplementedError

    NodeProviderRegistry.register("declining", Declining)
    registry = ClusterBuilder().add("declining").build()
    result = DistributedQVM(registry, shots=300, seed=3).run(ghz())
    assert calls == [300]
    assert sum(result.counts.values()) == 300
    assert result.chunks[0].node_id == "declining-0"
    assert result.chunks[0].fallback


class HealthCheckedProvider(MyGPUProvider):
    def build_nodes(self, **kwargs):
        self._last_host = kwargs.get("host")
        return super().build_nodes(**kwargs)

    def health_check(self) -> bool:
        """Return False if cluster is unreachable."""
        import socket
        host = self._last_host or "dgx-001.internal"
        try:
            socket.create_connection((host, 22), timeout=3)
            return True
        except OSError:
            return False


def test_health_check_false_marks_nodes_offline_and_build_goes_on(caplog):
    class Unreachable(HealthCheckedProvider):
        def health_check(self) -> bool:  # the spec's check, against a closed loopback port
            import socket
            try:
                socket.create_connection((self._last_host, free_port()), timeout=3)
                return True
            except OSError:
                return False

    NodeProviderRegistry.register("my_dgx", Unreachable)
    with caplog.at_level("WARNING"):
        registry = ClusterBuilder().add("my_dgx", n_nodes=2, host="127.0.0.1").add("local_cpu").build()
    assert [s.online for s in registry.nodes] == [False, False, True]
    assert "unhealthy" in caplog.text
    result = DistributedQVM(registry, shots=100, seed=1).run(ghz())
    assert result.node_ids == ["local-cpu-0"]


def test_spec_health_check_snippet_runs_verbatim():
    NodeProviderRegistry.register("my_dgx", HealthCheckedProvider)
    provider = HealthCheckedProvider()
    provider.build_nodes(host="127.0.0.1")
    with socket.socket() as probe:  # the snippet's answer is whether 127.0.0.1:22 accepts connections
        listening = probe.connect_ex(("127.0.0.1", 22)) == 0
    assert provider.health_check() is listening


def test_global_registration_then_use_anywhere():
    class MyFPGAProvider(NodeProvider):
        DISPLAY_NAME = "My FPGA"

        def build_nodes(self, **kwargs):
            return [QPUNodeSpec(node_id=f"fpga-{i}", node_type=NodeType.QPU, max_qubits=8)
                    for i in range(kwargs.get("n_nodes", 1))]

    NodeProviderRegistry.register("my_dgx", MyGPUProvider)
    NodeProviderRegistry.register("my_fpga", MyFPGAProvider)
    assert len(ClusterBuilder().add("my_dgx", n_nodes=4).build()) == 4
    assert len(ClusterBuilder().add("my_fpga", n_nodes=2).build()) == 2


def test_custom_rest_registration_snippet_builds_nodes_named_per_endpoint():
    registry = (
        ClusterBuilder()
        .add("custom_rest",
             endpoints=[
                 "http://dgx-001.internal:8888",
                 "http://dgx-002.internal:8888",
                 "http://dgx-003.internal:8888",
             ],
             max_qubits=30,
             api_key="my-secret-key",   # optional
             timeout_s=60)
        .build()
    )
    assert [s.node_id for s in registry.nodes] == ["custom-rest-0", "custom-rest-1", "custom-rest-2"]
    assert all(not s.online for s in registry.nodes)  # nothing answers there: unhealthy, not a crash
    assert "my-secret-key" not in repr(registry.nodes) + str(registry.status_report())
    registry.close()


def test_lumi_snippet_with_local_fallback_runs_on_local_cpu():
    my_circuit = ghz(5)
    registry = (
        ClusterBuilder()
        .add("custom_rest",
             endpoints=[f"http://127.0.0.1:{free_port()}"] * 8,   # 8 virtual LUMI workers
             max_qubits=34,
             api_key="my-secret",
             timeout_s=120)
        .add("local_cpu", n_nodes=2)                      # local fallback
        .build()
    )
    qvm = DistributedQVM(registry, mode=QVMMode.EMULATED, shots=2048)
    result = qvm.run(my_circuit)
    assert sum(result.counts.values()) == 2048
    assert set(result.node_ids) <= {"local-cpu-0", "local-cpu-1"}
    registry.close()
