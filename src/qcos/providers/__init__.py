"""Node providers: the plugin API (spec, ABC, registry, cluster builder) and built-ins."""

from qcos.providers.base import Counts, NodeProvider, ShotTask
from qcos.providers.cluster import (
    ClusterBuilder,
    NodeHandle,
    QPURegistry,
    load_cluster_config,
    load_cluster_file,
)
from qcos.providers.registry import NodeProviderRegistry
from qcos.providers.spec import NodeType, QPUNodeSpec

__all__ = [
    "ClusterBuilder",
    "Counts",
    "NodeHandle",
    "NodeProvider",
    "NodeProviderRegistry",
    "NodeType",
    "QPUNodeSpec",
    "QPURegistry",
    "ShotTask",
    "load_cluster_config",
    "load_cluster_file",
]
