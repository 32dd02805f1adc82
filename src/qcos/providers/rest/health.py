"""Whether ``custom_rest`` endpoints are healthy: ``/health`` probes that take nodes offline and back."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from qcos.providers.rest.endpoints import display_endpoint
from qcos.providers.rest.wire import status_text
from qcos.providers.spec import QPUNodeSpec

if TYPE_CHECKING:
    from qcos.providers.rest.client import RestClient

logger = logging.getLogger(__name__)

#: Prefix of the offline reason this provider sets, so it can bring those nodes back.
UNHEALTHY = "endpoint unhealthy"


def probe(client: RestClient, endpoint: str, node: QPUNodeSpec) -> tuple[str | None, dict[str, Any]]:
    """``GET /health``: (why the endpoint is unhealthy or None, what it announced)."""
    import httpx

    try:
        response = client.get_health(endpoint, node)
    except httpx.HTTPError as error:
        return f"unreachable ({type(error).__name__}: {str(error) or 'no answer'})", {}
    if response.status_code != 200:
        return f"/health answered {status_text(response)}", {}
    try:
        data = response.json()
    except ValueError:
        return "/health did not answer JSON", {}
    if not isinstance(data, dict) or data.get("status") != "ok":
        return f"/health status is {data.get('status') if isinstance(data, dict) else data!r}, not 'ok'", {}
    return None, data


def check_endpoints(
    nodes: Iterable[QPUNodeSpec],
    learn: Callable[[str, QPUNodeSpec], str | None],
    on_healthy: Callable[[QPUNodeSpec, str], None],
) -> tuple[bool, str | None]:
    """Probe every endpoint once (``learn(endpoint, node)``: the problem or None), in parallel.

    Nodes of failing endpoints go offline; nodes this module took offline come back when their
    endpoint is healthy again (and ``on_healthy(node, endpoint)`` is called for each healthy
    node). Returns (at least one endpoint is healthy, the failing endpoints' reasons or None).
    """
    by_endpoint: dict[str, list[QPUNodeSpec]] = {}
    for node in nodes:
        by_endpoint.setdefault(str(node.credentials.get("endpoint", "")), []).append(node)
    if not by_endpoint:
        return False, "no endpoints configured"
    with ThreadPoolExecutor(max_workers=min(16, len(by_endpoint))) as pool:
        answers = pool.map(lambda endpoint: learn(endpoint, by_endpoint[endpoint][0]), by_endpoint)
        problems = dict(zip(by_endpoint, answers, strict=True))
    failing = []
    for endpoint, problem in problems.items():
        for node in by_endpoint[endpoint]:
            if problem is None:
                node.mark_online(UNHEALTHY)
                on_healthy(node, endpoint)
            else:
                node.mark_offline(f"{UNHEALTHY}: {display_endpoint(endpoint)}: {problem}")
        if problem is not None:
            failing.append(f"{display_endpoint(endpoint)}: {problem}")
            logger.warning("REST endpoint %s is unhealthy: %s", display_endpoint(endpoint), problem)
    return len(failing) < len(problems), "; ".join(failing) or None


def mark_silent(nodes: Iterable[QPUNodeSpec], endpoint: str) -> None:
    """Take the nodes of ``endpoint`` offline: it answered neither a request nor ``/health``."""
    for node in nodes:
        if node.credentials.get("endpoint") == endpoint:
            node.mark_offline(f"{UNHEALTHY}: {display_endpoint(endpoint)}: stopped answering")
