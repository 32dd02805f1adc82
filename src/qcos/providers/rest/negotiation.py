"""What each ``custom_rest`` endpoint can do (batches, noise, width), learnt from its ``/health``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from qcos.exceptions import NodeExecutionError
from qcos.providers.rest.endpoints import display_endpoint, endpoint_of
from qcos.providers.spec import QPUNodeSpec

logger = logging.getLogger(__name__)

#: ``probe(endpoint, node)``: (why it is unhealthy or None, what its ``/health`` announced).
Probe = Callable[[str, QPUNodeSpec], tuple[str | None, dict[str, Any]]]


class Capabilities:
    """Per endpoint, what its ``/health`` announced; probed once when not known yet (thread-safe)."""

    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self._lock = threading.Lock()
        self._known: dict[str, dict[str, Any]] = {}

    def learn(self, endpoint: str, node: QPUNodeSpec) -> str | None:
        """Probe ``endpoint`` now and remember what it announces; why it is unhealthy, or None."""
        problem, data = self._probe(endpoint, node)
        if problem is None:
            with self._lock:
                self._known[endpoint] = data
        return problem

    def of(self, endpoint: str, node: QPUNodeSpec) -> dict[str, Any]:
        """What ``endpoint`` announced (probed once when not known yet; {} when it is unhealthy)."""
        with self._lock:
            known = self._known.get(endpoint)
        if known is None:
            self.learn(endpoint, node)
            with self._lock:
                known = self._known.get(endpoint, {})
        return known

    def is_bridge(self, endpoint: str) -> bool:
        """Whether ``endpoint`` announced ``/run-batch`` (a qcos bridge), as far as known now."""
        with self._lock:
            return self._known.get(endpoint, {}).get("batch") is True

    def forget(self, endpoint: str) -> None:
        """Probe ``endpoint`` again before relying on it (e.g. a tunnel's new port)."""
        with self._lock:
            self._known.pop(endpoint, None)

    def note_no_batch(self, endpoint: str) -> None:
        """``/run-batch`` answered 404/405: send this endpoint circuits one by one from now on."""
        with self._lock:
            self._known.setdefault(endpoint, {})["batch"] = False

    def batch_capable(self, node: QPUNodeSpec, batch: bool | None) -> bool:
        """``batch`` (the setting) when given, else whether the node's endpoint offers ``/run-batch``."""
        if batch is not None:
            return batch
        return bool(self.of(endpoint_of(node), node).get("batch"))

    def noise_refusal(self, node: QPUNodeSpec) -> NodeExecutionError | None:
        """Why noisy chunks may not go to this endpoint (its /health does not announce noise), or None."""
        endpoint = endpoint_of(node)
        if self.of(endpoint, node).get("noise") is True:
            return None
        return NodeExecutionError(
            node.node_id,
            f"{display_endpoint(endpoint)} does not announce noise support in /health (\"noise\": true), so it "
            "would simulate noisy chunks without noise; refusing to send them. Serve it with `qcos bridge serve`, "
            "or run noisy circuits on other nodes",
        )

    def apply_limits(self, node: QPUNodeSpec, endpoint: str) -> None:
        """Lower the node's ``max_qubits`` to what the endpoint advertises."""
        with self._lock:
            advertised = self._known.get(endpoint, {}).get("max_qubits")
        if isinstance(advertised, int) and not isinstance(advertised, bool) and 0 < advertised < node.max_qubits:
            logger.info("node %s: %s takes at most %d qubits; lowering max_qubits from %d",
                        node.node_id, display_endpoint(endpoint), advertised, node.max_qubits)
            node.max_qubits = advertised
