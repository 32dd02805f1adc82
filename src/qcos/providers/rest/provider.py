"""``CustomRESTProvider``: nodes that run chunks on HTTP endpoints speaking the bridge contract."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from qcos.counts import Counts
from qcos.exceptions import EndpointUnreachable, NodeExecutionError, QasmError
from qcos.providers.base import NodeProvider, ShotTask, TaskOutcome
from qcos.providers.rest import wire
from qcos.providers.rest.client import RestClient
from qcos.providers.rest.endpoints import (
    ID_PREFIX,
    build_rest_nodes,
    display_endpoint,
    endpoint_of,
    normalize_endpoint,
)
from qcos.providers.rest.health import check_endpoints, mark_silent, probe
from qcos.providers.rest.negotiation import Capabilities
from qcos.providers.rest.settings import RestSettings
from qcos.providers.rest.transport import HttpClients
from qcos.providers.spec import QPUNodeSpec

if TYPE_CHECKING:
    import httpx
    from qiskit import QuantumCircuit

logger = logging.getLogger(__name__)

#: The longest read timeout of one ``/run-batch`` request (``timeout_s`` × its circuits, capped).
MAX_BATCH_TIMEOUT_S = 86400.0


class CustomRESTProvider(NodeProvider):
    """Nodes backed by HTTP endpoints: one pooled, thread-safe client per provider.

    Requests retry (with exponential backoff and jitter) on connection errors and on
    429/500/502/503; a 504 (the circuit ran past the server's timeout) and 4xx answers are
    not retried (:mod:`qcos.providers.rest.retry`). Subclasses (the SSH bridge) reuse
    :meth:`configure`, :func:`build_rest_nodes`, :meth:`adopt` and :meth:`repoint`.
    """

    #: noisy chunks carry their noise spec to the endpoint (or are refused when it lacks support)
    HONOURS_NOISE = True

    DISPLAY_NAME = "Custom REST endpoints"
    ID_PREFIX = ID_PREFIX

    def __init__(self) -> None:
        self._nodes: list[QPUNodeSpec] = []
        self._lock = threading.Lock()
        self.settings = RestSettings()
        self._clients = HttpClients(self.settings, size=lambda: 2 * len(self.nodes))
        self._http = RestClient(self._clients, is_bridge=self._is_bridge, on_silent=self._on_silent)
        self._capabilities = Capabilities(lambda endpoint, node: probe(self._http, endpoint, node))

    # -- set-up ------------------------------------------------------------
    def build_nodes(
        self,
        *,
        endpoints: Sequence[str],
        max_qubits: int = 30,
        api_key: str | None = None,
        api_key_env: str | None = None,
        api_key_file: str | None = None,
        timeout_s: float = RestSettings.timeout_s,
        retries: int = RestSettings.retries,
        backoff_s: float = RestSettings.backoff_s,
        verify: bool | str = RestSettings.verify,
        proxy: str | None = RestSettings.proxy,
        tags: Sequence[str] | None = None,
        capacity: int = 1,
        weight: float = 1.0,
        batch: bool | None = RestSettings.batch,
        batch_size: int = RestSettings.batch_size,
        liveness_s: float | None = RestSettings.liveness_s,
    ) -> list[QPUNodeSpec]:
        """One node per entry of ``endpoints`` (``custom-rest-0``, ...).

        The HTTP arguments are :class:`~qcos.providers.rest.settings.RestSettings`' fields
        (``batch``: None uses ``/run-batch`` when ``/health`` says ``"batch": true``;
        ``verify``: TLS verification or a CA bundle path; proxy variables in the environment
        are ignored, pass ``proxy`` to use one; ``liveness_s``: seconds a bridge may stay
        silent before its chunks run elsewhere, None: off). The API key is ``api_key``
        itself, or read from ``$api_key_env`` or the first line of ``api_key_file``.
        """
        from qcos.providers.keys import resolve_api_key

        api_key = resolve_api_key(api_key, api_key_env, api_key_file)
        self.configure(RestSettings(timeout_s=timeout_s, retries=retries, backoff_s=backoff_s, verify=verify,
                                    proxy=proxy, batch=batch, batch_size=batch_size, liveness_s=liveness_s))
        nodes = build_rest_nodes(endpoints, id_prefix=self.ID_PREFIX, max_qubits=max_qubits, api_key=api_key,
                                 tags=tags, capacity=capacity, weight=weight)
        self.adopt(nodes)
        return nodes

    def configure(self, settings: RestSettings | None = None, **changes: Any) -> None:
        """Set the HTTP behaviour: ``settings``, or the defaults, with ``changes`` (RestSettings fields).

        Invalid values raise ValueError naming them; open connections are closed.
        """
        settings = RestSettings(**changes) if settings is None else dataclasses.replace(settings, **changes)
        self.settings = settings
        self._clients.reset(settings)

    def adopt(self, nodes: Iterable[QPUNodeSpec]) -> None:
        """Make this provider health-check and serve ``nodes`` (built by build_rest_nodes)."""
        with self._lock:
            self._nodes.extend(nodes)

    def repoint(self, old_endpoint: str, new_endpoint: str) -> int:
        """Move every node using ``old_endpoint`` to ``new_endpoint``; returns how many moved."""
        old, new = normalize_endpoint(old_endpoint), normalize_endpoint(new_endpoint)
        with self._lock:
            moved = [n for n in self._nodes if n.credentials.get("endpoint") == old]
        self._capabilities.forget(new)
        for node in moved:
            node.credentials["endpoint"] = new
        logger.info("%d node(s) moved from %s to %s", len(moved), display_endpoint(old), display_endpoint(new))
        return len(moved)

    @property
    def nodes(self) -> list[QPUNodeSpec]:
        with self._lock:
            return list(self._nodes)

    @property
    def transport(self) -> httpx.BaseTransport | None:
        """An httpx transport to use instead of the network (unit tests: ``httpx.MockTransport``)."""
        return self._clients.transport

    @transport.setter
    def transport(self, transport: httpx.BaseTransport | None) -> None:
        self._clients.transport = transport
        self._clients.close()

    # -- HTTP ----------------------------------------------------------------
    def _post(self, node: QPUNodeSpec, path: str, payload: Mapping[str, Any], *, read_timeout: float) -> httpx.Response:
        """POST JSON to the node's endpoint with retries (the one door of every chunk request)."""
        return self._http.post(node, path, payload, read_timeout=read_timeout)

    def _is_bridge(self, endpoint: str) -> bool:
        return self._capabilities.is_bridge(endpoint)

    def _on_silent(self, endpoint: str) -> None:
        mark_silent(self.nodes, endpoint)

    # -- execution ----------------------------------------------------------
    def execute(self, circuit: QuantumCircuit, shots: int, node_spec: QPUNodeSpec, *,
                seed: int | None = None) -> Counts:
        """POST one circuit to ``/run-circuit`` and return its checked counts."""
        try:
            text = wire.qasm_text(circuit)
        except QasmError as error:
            raise wire.unsendable(node_spec.node_id, circuit, error) from error
        return self._run_one(text, shots, seed, node_spec, label=circuit.name)

    def _run_one(self, text: str, shots: int, seed: int | None, node: QPUNodeSpec, *, label: str,
                 noise: Mapping[str, Any] | None = None) -> Counts:
        payload = wire.circuit_item(text, shots, seed, noise)
        response = self._post(node, "/run-circuit", payload, read_timeout=self.settings.timeout_s)
        where = f"{display_endpoint(endpoint_of(node))}/run-circuit"
        return wire.counts_of(response, shots, node.node_id, where, label)

    def execute_batch(self, tasks: Sequence[ShotTask], node_spec: QPUNodeSpec) -> list[TaskOutcome]:
        """Use ``/run-batch`` when the server offers it, else ``/run-circuit`` per task."""
        if any(task.run_options.get("noise") for task in tasks):
            refusal = self._capabilities.noise_refusal(node_spec)
            if refusal is not None:
                return [refusal] * len(tasks)
        outcomes: list[TaskOutcome] = [None] * len(tasks)
        text_of = wire.QasmTexts(node_spec.node_id)
        sendable: list[int] = []
        for index, task in enumerate(tasks):
            try:
                text_of(task.circuit)
                sendable.append(index)
            except NodeExecutionError as error:
                outcomes[index] = error
        if len(sendable) > 1 and self._capabilities.batch_capable(node_spec, self.settings.batch):
            self._send_batches(tasks, sendable, node_spec, text_of, outcomes)
        else:
            self._send_singly(tasks, sendable, node_spec, text_of, outcomes)
        return outcomes

    def _send_batches(self, tasks: Sequence[ShotTask], sendable: list[int], node: QPUNodeSpec,
                      text_of: wire.QasmTexts, outcomes: list[TaskOutcome]) -> None:
        """``/run-batch`` requests of up to ``batch_size`` tasks; a dead peer gets no further pieces."""
        size = self.settings.batch_size
        for start in range(0, len(sendable), size):
            indices = sendable[start:start + size]
            piece = [tasks[i] for i in indices]
            try:
                results = self._run_batch(piece, node, text_of)
            except EndpointUnreachable as error:
                for index in sendable[start:]:
                    outcomes[index] = error
                return
            except NodeExecutionError as error:
                results = [error] * len(piece)
            for index, result in zip(indices, results, strict=True):
                outcomes[index] = result

    def _send_singly(self, tasks: Sequence[ShotTask], sendable: list[int], node: QPUNodeSpec,
                     text_of: wire.QasmTexts, outcomes: list[TaskOutcome]) -> None:
        """One ``/run-circuit`` request per task; a dead peer fails the rest at once (no retries for each)."""
        for position, index in enumerate(sendable):
            task = tasks[index]
            try:
                outcomes[index] = self._run_one(text_of(task.circuit), task.shots, task.seed, node,
                                                label=f"{task.circuit.name} {task.key}",
                                                noise=task.run_options.get("noise"))
            except EndpointUnreachable as error:
                for rest in sendable[position:]:
                    outcomes[rest] = error
                return
            except NodeExecutionError as error:
                outcomes[index] = error

    def _run_batch(self, tasks: list[ShotTask], node: QPUNodeSpec, text_of: wire.QasmTexts) -> list[TaskOutcome]:
        items = [wire.circuit_item(text_of(t.circuit), t.shots, t.seed, t.run_options.get("noise")) for t in tasks]
        read_timeout = min(self.settings.timeout_s * max(1, len(tasks)), MAX_BATCH_TIMEOUT_S)
        response = self._post(node, "/run-batch", {"circuits": items}, read_timeout=read_timeout)
        endpoint = endpoint_of(node)
        where = f"{display_endpoint(endpoint)}/run-batch"
        if response.status_code in (404, 405) and self.settings.batch is None:
            self._capabilities.note_no_batch(endpoint)
            logger.info("%s has no batch endpoint; sending circuits one by one", where)
            raise NodeExecutionError(node.node_id, f"{where} is not available (HTTP {response.status_code})")
        if response.status_code != 200:
            raise NodeExecutionError(
                node.node_id, f"{where} refused a batch of {len(tasks)}: {wire.status_text(response)}"
            )
        return wire.batch_outcomes(wire.json_body(response, node.node_id, where), tasks, node.node_id, where)

    # -- health and lifetime ------------------------------------------------
    def health_check(self) -> bool:
        """Probe every endpoint; nodes of failing ones go offline (and come back when healthy).

        True when at least one endpoint is healthy; ``health_reason`` lists the failing ones.
        """
        healthy, self.health_reason = check_endpoints(
            self.nodes, self._capabilities.learn, self._capabilities.apply_limits
        )
        return healthy

    def close(self) -> None:
        self._clients.close()
