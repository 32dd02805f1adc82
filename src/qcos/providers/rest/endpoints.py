"""Where ``custom_rest`` nodes send their requests: endpoint URLs, checked, shown without secrets, re-pointed."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from qcos.checks import require_int
from qcos.exceptions import NodeExecutionError
from qcos.providers.spec import NodeType, QPUNodeSpec

logger = logging.getLogger(__name__)

#: Node ids of ``custom_rest`` nodes: ``custom-rest-0``, ``custom-rest-1``, ...
ID_PREFIX = "custom-rest"


def normalize_endpoint(endpoint: object) -> str:
    """``http(s)://host[:port][/prefix]`` without a trailing slash; ValueError otherwise."""
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ValueError(f"endpoint must be an http(s) URL string such as 'http://localhost:8888', got {endpoint!r}")
    parts = urlsplit(endpoint.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"endpoint {display_endpoint(endpoint)!r} is not an http(s) URL; write it like 'http://host:8888'"
        )
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError as error:
        raise ValueError(f"endpoint {display_endpoint(endpoint)!r} has an invalid port: {error}") from error
    if parts.query or parts.fragment:
        raise ValueError(f"endpoint {display_endpoint(endpoint)!r} must not carry a query or fragment")
    return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path.rstrip("/"), "", ""))


def display_endpoint(endpoint: object) -> str:
    """The endpoint without user:password, for messages and logs."""
    text = str(endpoint)
    try:
        parts = urlsplit(text)
    except ValueError:
        return text[:200]
    if parts.username is None and parts.password is None:
        return text
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def build_rest_nodes(
    endpoints: Sequence[str],
    *,
    id_prefix: str = ID_PREFIX,
    max_qubits: int = 30,
    api_key: str | None = None,
    node_type: NodeType | str = NodeType.REST,
    tags: Iterable[str] | None = None,
    capacity: int = 1,
    weight: float = 1.0,
) -> list[QPUNodeSpec]:
    """One node per endpoint (``{id_prefix}-0``, ``-1``, ...); a repeated URL gives concurrent nodes.

    The endpoint and key go in ``credentials`` (hidden from ``repr`` and reports).
    """
    if isinstance(endpoints, str) or not isinstance(endpoints, Sequence) or not endpoints:
        raise ValueError(
            f"endpoints must be a non-empty list of URLs such as ['http://localhost:8888'], got {endpoints!r}"
        )
    if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
        raise ValueError("api_key must be a non-empty string (or None for an open endpoint)")
    require_int("max_qubits", max_qubits)
    if tags is not None and (isinstance(tags, str) or not all(isinstance(t, str) for t in tags)):
        raise ValueError(f"tags must be a list of strings, got {tags!r}")
    urls = [normalize_endpoint(e) for e in endpoints]
    tag_list = ["rest", *(tags or [])]
    nodes = []
    for index, url in enumerate(urls):
        credentials: dict[str, Any] = {"endpoint": url}
        if api_key:
            credentials["api_key"] = api_key.strip()
        nodes.append(QPUNodeSpec(
            node_id=f"{id_prefix}-{index}", node_type=NodeType.parse(node_type), max_qubits=max_qubits, tags=list(tag_list),
            credentials=credentials, capacity=capacity, weight=weight,
        ))
    return nodes


def repoint_nodes(nodes: Iterable[QPUNodeSpec], endpoint: str) -> None:
    """Send these nodes' next requests to ``endpoint`` (e.g. a tunnel's new local port)."""
    url = normalize_endpoint(endpoint)
    for node in nodes:
        node.credentials["endpoint"] = url


def endpoint_of(node: QPUNodeSpec) -> str:
    """The base URL a node's requests go to."""
    endpoint = node.credentials.get("endpoint")
    if not endpoint:
        raise NodeExecutionError(node.node_id, "has no endpoint in its credentials; build it with build_rest_nodes()")
    return str(endpoint)
