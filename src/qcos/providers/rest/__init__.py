"""``custom_rest``: nodes that run chunks on any HTTP server speaking the bridge contract.

The contract (``POST /run-circuit`` with ``{"qasm", "shots"}`` answering ``{"counts"}``,
``GET /health``) is the one in the providers spec; ``qcos bridge serve`` implements it and
adds ``POST /run-batch``, which this provider uses when ``/health`` advertises
``"batch": true``. Each node reads its endpoint from ``credentials["endpoint"]`` at every
call, so a tunnel that reconnects on a new local port only has to :func:`repoint_nodes`.

Modules: ``settings`` (the HTTP parameters), ``endpoints`` (URLs and nodes), ``wire``
(bodies and answers), ``retry`` (the retry policy), ``transport`` (httpx clients),
``client`` (requests, retried and watched), ``negotiation`` (what an endpoint offers),
``health`` (probes), ``provider`` (:class:`CustomRESTProvider`).
"""

from __future__ import annotations

from qcos.providers.rest.endpoints import (
    ID_PREFIX,
    build_rest_nodes,
    display_endpoint,
    endpoint_of,
    normalize_endpoint,
    repoint_nodes,
)
from qcos.providers.rest.health import UNHEALTHY
from qcos.providers.rest.provider import CustomRESTProvider
from qcos.providers.rest.settings import RestSettings
from qcos.providers.rest.wire import check_counts

__all__ = [
    "ID_PREFIX",
    "UNHEALTHY",
    "CustomRESTProvider",
    "RestSettings",
    "build_rest_nodes",
    "check_counts",
    "display_endpoint",
    "endpoint_of",
    "normalize_endpoint",
    "repoint_nodes",
]
