"""NodeProviderRegistry: validation, lookups, entry points and thread safety."""

from __future__ import annotations

import threading
from importlib.metadata import EntryPoint

import pytest

from qcos import ClusterBuilder, NodeProvider, NodeProviderRegistry, NodeType, QPUNodeSpec
from qcos.exceptions import ProviderRegistrationError, UnknownProviderError
from qcos.providers import registry as registry_module


def make_provider(display: str = "Test provider", prefix: str = "t") -> type[NodeProvider]:
    class Provider(NodeProvider):
        DISPLAY_NAME = display

        def build_nodes(self, n_nodes: int = 1) -> list[QPUNodeSpec]:
            return [QPUNodeSpec(node_id=f"{prefix}-{i}", node_type=NodeType.MOCK, max_qubits=5) for i in range(n_nodes)]

    return Provider


def test_builtins_are_listed_with_display_names():
    listing = NodeProviderRegistry.list()
    for name in ("local_cpu", "local_gpu", "mock"):
        assert listing[name] and not listing[name].startswith("(unavailable")
    assert listing["local_cpu"] == "Local Aer (CPU)"


def test_unknown_name_is_a_keyerror_listing_known_names():
    with pytest.raises(KeyError) as info:
        NodeProviderRegistry.get("nope")
    assert isinstance(info.value, UnknownProviderError)
    assert "local_cpu" in str(info.value) and "'nope'" in str(info.value)


@pytest.mark.parametrize(
    ("candidate", "message"),
    [
        (object, "subclass of qcos.NodeProvider"),
        ("not a class", None),  # strings are lazy paths: validated on get()
    ],
)
def test_register_rejects_non_providers(candidate, message):
    if message is None:
        NodeProviderRegistry.register("lazy", candidate)
        with pytest.raises(UnknownProviderError, match="cannot be imported"):
            NodeProviderRegistry.get("lazy")
        return
    with pytest.raises(ProviderRegistrationError, match=message):
        NodeProviderRegistry.register("bad", candidate)


def test_register_requires_display_name_and_build_nodes():
    class NoName(NodeProvider):
        def build_nodes(self, **kwargs):
            return []

    class Abstract(NodeProvider):
        DISPLAY_NAME = "Abstract"

    with pytest.raises(ProviderRegistrationError, match="DISPLAY_NAME"):
        NodeProviderRegistry.register("noname", NoName)
    with pytest.raises(ProviderRegistrationError, match="build_nodes"):
        NodeProviderRegistry.register("abstract", Abstract)
    with pytest.raises(ProviderRegistrationError, match="invalid provider name"):
        NodeProviderRegistry.register("has space", make_provider())


def test_reregistering_a_different_class_needs_clobber():
    first, second = make_provider("First"), make_provider("Second")
    second.__qualname__ = "Other"
    NodeProviderRegistry.register("dup", first)
    NodeProviderRegistry.register("dup", first)  # same class: fine
    with pytest.raises(ProviderRegistrationError, match="clobber=True"):
        NodeProviderRegistry.register("dup", second)
    NodeProviderRegistry.register("dup", second, clobber=True)
    assert NodeProviderRegistry.get("dup") is second


def test_unregister_and_readonly_view():
    NodeProviderRegistry.register("temp", make_provider())
    assert "temp" in NodeProviderRegistry.providers
    with pytest.raises(TypeError):
        NodeProviderRegistry.providers["x"] = make_provider()  # type: ignore[index]
    assert "temp" in NodeProviderRegistry and "local_cpu" in NodeProviderRegistry
    NodeProviderRegistry.unregister("temp")
    assert "temp" not in NodeProviderRegistry.names()
    assert "temp" not in NodeProviderRegistry and 3 not in NodeProviderRegistry
    with pytest.raises(UnknownProviderError):
        NodeProviderRegistry.unregister("temp")


def test_entry_point_providers_load_lazily(monkeypatch):
    module = type(registry_module)("qcos_test_plugin")
    module.PluginProvider = make_provider("Plugin provider", prefix="plugin")
    monkeypatch.setitem(__import__("sys").modules, "qcos_test_plugin", module)
    points = [EntryPoint("plugin_nodes", "qcos_test_plugin:PluginProvider", "qcos.providers")]
    monkeypatch.setattr(registry_module, "entry_points", lambda group: points if group == "qcos.providers" else [])
    monkeypatch.setattr(NodeProviderRegistry, "_entry_points_loaded", False)
    assert NodeProviderRegistry.list()["plugin_nodes"] == "Plugin provider"
    assert [s.node_id for s in ClusterBuilder().add("plugin_nodes", n_nodes=2).build()] == ["plugin-0", "plugin-1"]


def test_concurrent_registration_from_8_threads_while_building_clusters():
    errors: list[BaseException] = []
    barrier = threading.Barrier(12)

    def register(thread_index: int) -> None:
        try:
            barrier.wait()
            for j in range(25):
                NodeProviderRegistry.register(f"p{thread_index}_{j}", make_provider(f"P{thread_index}.{j}", prefix=f"p{thread_index}-{j}"))
                NodeProviderRegistry.list() if j % 10 == 0 else None
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def build() -> None:
        try:
            barrier.wait()
            for _ in range(10):
                registry = ClusterBuilder().add("mock", n_nodes=3).add("local_cpu").build()
                assert len(registry) == 4
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(8)]
    threads += [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    names = NodeProviderRegistry.names()
    assert all(f"p{i}_{j}" in names for i in range(8) for j in range(25))
    assert NodeProviderRegistry.get("p7_24").DISPLAY_NAME == "P7.24"
