"""Requests of a ``custom_rest`` provider: JSON POSTs retried by the policy, watched for liveness on bridges."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from qcos.exceptions import EndpointUnreachable, NodeExecutionError, PeerSilentError, RetryDecision
from qcos.providers.liveness import watched_send
from qcos.providers.rest.endpoints import display_endpoint, endpoint_of
from qcos.providers.rest.retry import RetryPolicy
from qcos.providers.rest.settings import RestSettings
from qcos.providers.rest.transport import HttpClients
from qcos.providers.rest.wire import detail
from qcos.providers.spec import QPUNodeSpec

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

#: Seconds a ``/health`` probe may take (at most ``timeout_s``).
HEALTH_TIMEOUT_S = 5.0


def auth_headers(node: QPUNodeSpec) -> dict[str, str]:
    """``Authorization: Bearer <key>`` when the node has an API key."""
    key = node.credentials.get("api_key")
    return {"Authorization": f"Bearer {key}"} if key else {}


class RestClient:
    """Sends a node's requests to its endpoint (read at every call, so a re-pointed node follows).

    ``is_bridge(endpoint)`` says whether the peer is a qcos bridge (its requests are then
    watched for liveness); ``on_silent(endpoint)`` is told when such a peer stopped answering.
    """

    def __init__(self, clients: HttpClients, *, is_bridge: Callable[[str], bool],
                 on_silent: Callable[[str], None]) -> None:
        self.clients = clients
        self._is_bridge = is_bridge
        self._on_silent = on_silent

    @property
    def settings(self) -> RestSettings:
        return self.clients.settings

    @property
    def policy(self) -> RetryPolicy:
        return RetryPolicy(retries=self.settings.retries, backoff_s=self.settings.backoff_s)

    def post(self, node: QPUNodeSpec, path: str, payload: Mapping[str, Any], *, read_timeout: float) -> httpx.Response:
        """POST ``payload`` as JSON to the node's endpoint + ``path``; the last answer after the retries.

        Raises NodeExecutionError on a read timeout and EndpointUnreachable when no attempt
        got an answer.
        """
        import httpx

        endpoint = endpoint_of(node)
        where = f"{display_endpoint(endpoint)}{path}"
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **auth_headers(node)}
        timeout = httpx.Timeout(read_timeout, connect=self.settings.connect_timeout_s)
        policy = self.policy
        last_problem = ""
        response: httpx.Response | None = None
        for attempt in range(policy.attempts):
            if attempt:
                policy.pause(attempt, response)
            try:
                response = self._send(node, endpoint, endpoint + path, body, headers, timeout)
            except httpx.TransportError as error:
                if policy.transport_decision(error) is not RetryDecision.RETRY:
                    raise NodeExecutionError(
                        node.node_id, f"{where} gave no answer within {read_timeout:g}s ({type(error).__name__}); "
                        "raise timeout_s if circuits legitimately take longer"
                    ) from error
                last_problem, response = f"{type(error).__name__}: {str(error) or 'connection failed'}", None
                continue
            if policy.retries_answer(response, attempt):
                last_problem = f"HTTP {response.status_code}: {detail(response)}"
                continue
            return response
        raise EndpointUnreachable(node.node_id, f"{where} failed after {policy.attempts} attempt(s): {last_problem}")

    def _send(self, node: QPUNodeSpec, endpoint: str, url: str, body: bytes, headers: dict[str, str],
              timeout: httpx.Timeout) -> httpx.Response:
        """POST, watched for liveness when the peer is a qcos bridge and the request may outlast ``liveness_s``."""
        liveness_s = self.settings.liveness_s
        if liveness_s is None or (timeout.read or 0) <= liveness_s or not self._is_bridge(endpoint):
            return self.clients.shared().post(url, content=body, headers=headers, timeout=timeout)

        pool = self.clients.watched(endpoint)
        silent = f"{display_endpoint(endpoint)} stopped answering (found silent for liveness_s={liveness_s:g})"
        try:
            response: httpx.Response = watched_send(
                lambda: pool.post(url, content=body, headers=headers, timeout=timeout),
                lambda probe_s: self.answers(endpoint, probe_s),
                liveness_s=liveness_s,
                what=f"{display_endpoint(endpoint)} (node {node.node_id})",
                cut=lambda: self.clients.cut(pool, silent),
            )
        except PeerSilentError as error:
            self._on_silent(endpoint)
            raise EndpointUnreachable(node.node_id, str(error)) from error
        return response

    def answers(self, endpoint: str, timeout_s: float) -> bool:
        """True when ``/health`` answers anything (even 503: a busy peer is alive) within ``timeout_s``."""
        import httpx

        try:
            self.clients.shared().get(endpoint + "/health", timeout=timeout_s)
        except httpx.HTTPError:
            return False
        return True

    def get_health(self, endpoint: str, node: QPUNodeSpec) -> httpx.Response:
        """``GET /health`` with the node's key (httpx.HTTPError when there is no answer)."""
        return self.clients.shared().get(endpoint + "/health", headers=auth_headers(node),
                                         timeout=min(HEALTH_TIMEOUT_S, self.settings.timeout_s))
