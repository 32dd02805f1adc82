"""ClusterBuilder: lazy plans, argument checks, health, duplicates and config files."""

from __future__ import annotations

import pytest

from qcos import ClusterBuilder, NodeProvider, NodeProviderRegistry, NodeType, QPUNodeSpec
from qcos.exceptions import ClusterBuildError, ConfigError, ProviderError, UnknownProviderError
from qcos.providers.cluster import load_cluster_file


class Empty(NodeProvider):
    DISPLAY_NAME = "Empty"

    def build_nodes(self, **kwargs):
        return []


class Fixed(NodeProvider):
    DISPLAY_NAME = "Fixed ids"

    def build_nodes(self, **kwargs):
        return [QPUNodeSpec(node_id="same", node_type=NodeType.MOCK, max_qubits=4)]


def test_add_is_lazy_and_describe_masks_secrets():
    builder = ClusterBuilder().add("does_not_exist").add("mock", n_nodes=2, api_key="s3cret")
    plan = builder.describe()
    assert plan[1] == {"provider": "mock", "display_name": "Mock (deterministic counts)",
                       "kwargs": {"n_nodes": 2, "api_key": "***"}}
    assert plan[0]["display_name"].startswith("(unavailable")
    with pytest.raises(UnknownProviderError):
        builder.build()


def test_unknown_kwargs_list_the_valid_ones():
    with pytest.raises(ClusterBuildError) as info:
        ClusterBuilder().add("local_cpu", n_node=2).build()
    message = str(info.value)
    assert "unknown argument(s) ['n_node']" in message
    assert "n_nodes (default: 1)" in message and "aer_options" in message


def test_invalid_values_and_aer_options_are_clear_errors():
    with pytest.raises(ClusterBuildError, match="n_nodes must be a positive integer"):
        ClusterBuilder().add("local_cpu", n_nodes=0).build()
    with pytest.raises(ProviderError, match="unknown Aer option"):
        ClusterBuilder().add("local_cpu", aer_options={"methd": "statevector"}).build()
    with pytest.raises(ClusterBuildError, match="not an Aer method"):
        ClusterBuilder().add("local_cpu", method="quantum_magic").build()


def test_empty_build_nodes_and_duplicates_are_errors():
    NodeProviderRegistry.register("empty", Empty)
    NodeProviderRegistry.register("fixed", Fixed)
    with pytest.raises(ClusterBuildError, match="at least one QPUNodeSpec"):
        ClusterBuilder().add("empty").build()
    with pytest.raises(ClusterBuildError, match="duplicate node id 'same'"):
        ClusterBuilder().add("fixed").add("fixed").build()
    with pytest.raises(ClusterBuildError, match="nothing added"):
        ClusterBuilder().build()


def test_local_gpu_is_unhealthy_with_reason_without_gpu():
    registry = ClusterBuilder().add("local_gpu").add("local_cpu").build()
    gpu = registry["local-gpu-0"]
    assert gpu.node_type is NodeType.GPU_AER and gpu.options["device"] == "GPU"
    from qcos.workers.simulator import gpu_status

    available, _ = gpu_status()
    if not available:
        assert not gpu.online and "qiskit-aer-gpu" in gpu.offline_reason
        assert registry.status_report()["online_nodes"] == 1


def test_fallback_local_when_nothing_is_online():
    registry = ClusterBuilder().add("local_gpu").build(fallback_local=True)
    assert any(s.node_id == "local-cpu-0" and s.online for s in registry.nodes)


def test_node_spec_validation_and_hidden_credentials():
    with pytest.raises(ValueError, match="max_qubits"):
        QPUNodeSpec(node_id="x", node_type=NodeType.MOCK, max_qubits=0)
    with pytest.raises(ValueError, match="unknown node_type"):
        QPUNodeSpec(node_id="x", node_type="warp", max_qubits=3)
    spec = QPUNodeSpec(node_id="x", node_type="gpu_aer", max_qubits=3, credentials={"token": "t0k3n"})
    assert spec.node_type is NodeType.GPU_AER
    assert "t0k3n" not in repr(spec) and "t0k3n" not in str(spec.public_dict())


def test_cluster_file(tmp_path):
    good = tmp_path / "cluster.yaml"
    good.write_text("- {provider: mock, n_nodes: 2}\n- {provider: local_cpu}\n")
    assert [s.node_id for s in load_cluster_file(good).build()] == ["mock-0", "mock-1", "local-cpu-0"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {provider: lokal_cpu}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml\[0\].provider: unknown provider 'lokal_cpu'"):
        load_cluster_file(bad)
    with pytest.raises(ConfigError, match="non-empty list"):
        ClusterBuilder.from_config({"provider": "mock"})  # type: ignore[arg-type]


def test_status_report_carries_provider_status():
    class WithStatus(Fixed):
        def status(self):
            return {"queue": 3}

    NodeProviderRegistry.register("with_status", WithStatus)
    report = ClusterBuilder().add("with_status").add("mock").build().status_report()
    assert report["providers"]["with_status"]["status"] == {"queue": 3}
    assert "status" not in report["providers"]["mock"]
