"""Alias of the original ``network.node_providers`` module."""

from qcos.providers import ClusterBuilder, NodeProvider, NodeProviderRegistry, QPURegistry

__all__ = ["ClusterBuilder", "NodeProvider", "NodeProviderRegistry", "QPURegistry"]
