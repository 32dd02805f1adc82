"""``custom_rest``: nodes that run chunks on any HTTP server speaking the bridge contract.

The contract (``POST /run-circuit`` with ``{"qasm", "shots"}`` answering ``{"counts"}``,
``GET /health``) is the one in the providers spec; ``qcos bridge serve`` implements it and
adds ``POST /run-batch``, which this provider uses when ``/health`` advertises
``"batch": true``. Each node reads its endpoint from ``credentials["endpoint"]`` at every
call, so a tunnel that reconnects on a new local port only has to :func:`repoint_nodes`.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from qcos.exceptions import CircuitError, NodeExecutionError, PeerSilentError, QasmError
from qcos.providers.base import Counts, NodeProvider, ShotTask, TaskOutcome
from qcos.providers.liveness import DEFAULT_LIVENESS_S, watched_send
from qcos.providers.spec import NodeType, QPUNodeSpec

if TYPE_CHECKING:
    import httpx
    from qiskit import QuantumCircuit

logger = logging.getLogger(__name__)

ID_PREFIX = "custom-rest"
#: Statuses worth retrying (the server may recover); 504 (the circuit timed out) is not.
RETRY_STATUSES = frozenset({429, 500, 502, 503})
#: How a qcos bridge labels an error that any node would give for this circuit (never retried).
CAUSE_HEADER = "x-qcos-error-cause"
CIRCUIT_CAUSE = "circuit"
#: Prefix of the offline reason this provider sets, so it can bring those nodes back.
UNHEALTHY = "endpoint unhealthy"
HEALTH_TIMEOUT_S = 5.0


class EndpointUnreachable(NodeExecutionError):
    """The endpoint did not answer at all (refused, reset, DNS, connect timeout)."""


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
    if isinstance(max_qubits, bool) or not isinstance(max_qubits, int) or max_qubits < 1:
        raise ValueError(f"max_qubits must be a positive integer, got {max_qubits!r}")
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
            node_id=f"{id_prefix}-{index}", node_type=node_type, max_qubits=max_qubits, tags=list(tag_list),
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


class CustomRESTProvider(NodeProvider):
    """Nodes backed by HTTP endpoints: one pooled, thread-safe client per provider.

    Requests retry (with exponential backoff and jitter) on connection errors and on
    429/500/502/503; a 504 (the circuit ran past the server's timeout) and 4xx answers are
    not retried. Subclasses (the SSH bridge) reuse :meth:`configure`,
    :func:`build_rest_nodes`, :meth:`adopt` and :meth:`repoint`.
    """

    #: noisy chunks carry their noise spec to the endpoint (or are refused when it lacks support)
    HONOURS_NOISE = True

    DISPLAY_NAME = "Custom REST endpoints"
    ID_PREFIX = ID_PREFIX

    def __init__(self) -> None:
        self._nodes: list[QPUNodeSpec] = []
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._watch_client: httpx.Client | None = None
        self._capabilities: dict[str, dict[str, Any]] = {}
        #: An httpx transport to use instead of the network (unit tests: httpx.MockTransport).
        self.transport: httpx.BaseTransport | None = None
        self.configure()

    # -- set-up ------------------------------------------------------------
    def build_nodes(
        self,
        *,
        endpoints: Sequence[str],
        max_qubits: int = 30,
        api_key: str | None = None,
        api_key_env: str | None = None,
        api_key_file: str | None = None,
        timeout_s: float = 60.0,
        retries: int = 2,
        backoff_s: float = 0.25,
        verify: bool | str = True,
        proxy: str | None = None,
        tags: Sequence[str] | None = None,
        capacity: int = 1,
        weight: float = 1.0,
        batch: bool | None = None,
        batch_size: int = 256,
        liveness_s: float | None = DEFAULT_LIVENESS_S,
    ) -> list[QPUNodeSpec]:
        """One node per entry of ``endpoints`` (``custom-rest-0``, ...).

        ``batch``: None uses ``/run-batch`` when ``/health`` says ``"batch": true``, True
        always, False never. ``verify``: TLS verification, or a CA bundle path. Proxy
        variables in the environment are ignored; pass ``proxy`` to use one. The API key is
        ``api_key`` itself, or read from ``$api_key_env`` or the first line of ``api_key_file``.
        ``liveness_s``: while a request to a qcos bridge is outstanding, ``/health`` is probed;
        this many seconds without any answer abort it and its chunks run elsewhere (None: off).
        """
        from qcos.providers.keys import resolve_api_key

        api_key = resolve_api_key(api_key, api_key_env, api_key_file)
        self.configure(timeout_s=timeout_s, retries=retries, backoff_s=backoff_s, verify=verify, proxy=proxy,
                       batch=batch, batch_size=batch_size, liveness_s=liveness_s)
        nodes = build_rest_nodes(endpoints, id_prefix=self.ID_PREFIX, max_qubits=max_qubits, api_key=api_key,
                                 tags=tags, capacity=capacity, weight=weight)
        self.adopt(nodes)
        return nodes

    def configure(
        self,
        *,
        timeout_s: float = 60.0,
        retries: int = 2,
        backoff_s: float = 0.25,
        verify: bool | str = True,
        proxy: str | None = None,
        batch: bool | None = None,
        batch_size: int = 256,
        liveness_s: float | None = DEFAULT_LIVENESS_S,
    ) -> None:
        """Set the HTTP behaviour (validated; ValueError names the bad value)."""
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
            raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 20:
            raise ValueError(f"retries must be an integer from 0 to 20, got {retries!r}")
        if isinstance(backoff_s, bool) or not isinstance(backoff_s, (int, float)) or backoff_s < 0:
            raise ValueError(f"backoff_s must be a number >= 0, got {backoff_s!r}")
        if not isinstance(verify, (bool, str)):
            raise ValueError(f"verify must be True, False or a CA bundle path, got {verify!r}")
        if proxy is not None:
            normalize_endpoint(proxy)
        if batch is not None and not isinstance(batch, bool):
            raise ValueError(f"batch must be True, False or None (auto), got {batch!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if liveness_s is not None and (isinstance(liveness_s, bool) or not isinstance(liveness_s, (int, float))
                                       or not liveness_s > 0):
            raise ValueError(f"liveness_s must be a positive number of seconds or None (off), got {liveness_s!r}")
        self.liveness_s = None if liveness_s is None else float(liveness_s)
        self.timeout_s = float(timeout_s)
        self.retries = retries
        self.backoff_s = float(backoff_s)
        self.verify = verify
        self.proxy = proxy
        self.batch = batch
        self.batch_size = batch_size
        with self._lock:
            clients, self._client, self._watch_client = (self._client, self._watch_client), None, None
        for client in clients:
            if client is not None:
                client.close()

    def adopt(self, nodes: Iterable[QPUNodeSpec]) -> None:
        """Make this provider health-check and serve ``nodes`` (built by build_rest_nodes)."""
        with self._lock:
            self._nodes.extend(nodes)

    def repoint(self, old_endpoint: str, new_endpoint: str) -> int:
        """Move every node using ``old_endpoint`` to ``new_endpoint``; returns how many moved."""
        old, new = normalize_endpoint(old_endpoint), normalize_endpoint(new_endpoint)
        with self._lock:
            moved = [n for n in self._nodes if n.credentials.get("endpoint") == old]
            self._capabilities.pop(new, None)
        repoint_nodes(moved, new)
        logger.info("%d node(s) moved from %s to %s", len(moved), display_endpoint(old), display_endpoint(new))
        return len(moved)

    @property
    def nodes(self) -> list[QPUNodeSpec]:
        with self._lock:
            return list(self._nodes)

    # -- HTTP ----------------------------------------------------------------
    def client(self) -> httpx.Client:
        """The shared pooled client (created on first use, thread-safe)."""
        with self._lock:
            if self._client is None:
                self._client = self._new_client(keepalive=True)
            return self._client

    def watch_client(self) -> httpx.Client:
        """The client of watched requests: a fresh connection each, so a hung one can be cut alone."""
        with self._lock:
            if self._watch_client is None:
                self._watch_client = self._new_client(keepalive=False)
            return self._watch_client

    def _new_client(self, *, keepalive: bool) -> httpx.Client:
        import httpx

        verify: bool | ssl.SSLContext = self.verify
        if isinstance(self.verify, str):
            verify = ssl.create_default_context(cafile=self.verify)
        size = max(10, 2 * len(self._nodes))
        return httpx.Client(
            timeout=httpx.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s)),
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size if keepalive else 0),
            verify=verify,
            proxy=self.proxy,
            trust_env=False,
            transport=self.transport,
            headers={"User-Agent": "qcos-custom-rest"},
        )

    def _headers(self, node: QPUNodeSpec) -> dict[str, str]:
        key = node.credentials.get("api_key")
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _post(self, node: QPUNodeSpec, path: str, payload: Mapping[str, Any], *, read_timeout: float) -> httpx.Response:
        import httpx

        endpoint = endpoint_of(node)
        url = endpoint + path
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **self._headers(node)}
        timeout = httpx.Timeout(read_timeout, connect=min(10.0, self.timeout_s))
        last_problem = ""
        response: httpx.Response | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep_before_retry(attempt, response)
            try:
                response = self._send(node, endpoint, url, body, headers, timeout)
            except (httpx.ReadTimeout, httpx.WriteTimeout) as error:
                raise NodeExecutionError(
                    node.node_id, f"{display_endpoint(endpoint)}{path} gave no answer within {read_timeout:g}s "
                    f"({type(error).__name__}); raise timeout_s if circuits legitimately take longer"
                ) from error
            except httpx.TransportError as error:
                last_problem = f"{type(error).__name__}: {error or 'connection failed'}"
                response = None
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries and not _circuit_caused(response):
                last_problem = f"HTTP {response.status_code}: {_detail(response)}"
                continue
            return response
        where = f"{display_endpoint(endpoint)}{path}"
        if response is None:
            raise EndpointUnreachable(node.node_id, f"{where} failed after {self.retries + 1} attempt(s): {last_problem}")
        return response  # pragma: no cover - the loop returns the last answer itself

    def _send(self, node: QPUNodeSpec, endpoint: str, url: str, body: bytes, headers: dict[str, str],
              timeout: httpx.Timeout) -> httpx.Response:
        """POST, watched for liveness when the peer is a qcos bridge and the request may outlast ``liveness_s``."""
        liveness_s = self.liveness_s
        with self._lock:
            is_bridge = self._capabilities.get(endpoint, {}).get("batch") is True
        if liveness_s is None or not is_bridge or (timeout.read or 0) <= liveness_s:
            return self.client().post(url, content=body, headers=headers, timeout=timeout)

        def send(extensions: dict[str, Any]) -> httpx.Response:
            return self.watch_client().post(url, content=body, headers=headers, timeout=timeout,
                                            extensions=extensions)

        try:
            return watched_send(send, lambda probe_s: self._answers(endpoint, probe_s), liveness_s=liveness_s,
                                what=f"{display_endpoint(endpoint)} (node {node.node_id})")
        except PeerSilentError as error:
            for other in self.nodes:
                if other.credentials.get("endpoint") == endpoint:
                    other.mark_offline(f"{UNHEALTHY}: {display_endpoint(endpoint)}: stopped answering")
            raise EndpointUnreachable(node.node_id, str(error)) from error

    def _answers(self, endpoint: str, timeout_s: float) -> bool:
        """True when ``/health`` answers anything (even 503: a busy peer is alive) within ``timeout_s``."""
        import httpx

        try:
            self.client().get(endpoint + "/health", timeout=timeout_s)
        except httpx.HTTPError:
            return False
        return True

    def _sleep_before_retry(self, attempt: int, response: httpx.Response | None) -> None:
        delay = self.backoff_s * (2 ** (attempt - 1)) * (0.5 + random.random())
        if response is not None:
            retry_after = response.headers.get("retry-after", "")
            if retry_after.isdigit():
                delay = max(delay, min(float(retry_after), 10.0))
        time.sleep(delay)

    # -- execution ----------------------------------------------------------
    def execute(self, circuit: QuantumCircuit, shots: int, node_spec: QPUNodeSpec, *,
                seed: int | None = None) -> Counts:
        """POST one circuit to ``/run-circuit`` and return its checked counts."""
        try:
            text = _qasm_text(circuit)
        except QasmError as error:
            raise NodeExecutionError(node_spec.node_id, f"cannot send {circuit.name!r} as OpenQASM 3: {error}") from error
        return self._run_one(text, shots, seed, node_spec, label=circuit.name)

    def _run_one(self, text: str, shots: int, seed: int | None, node: QPUNodeSpec, *, label: str,
                 noise: Mapping[str, Any] | None = None) -> Counts:
        payload: dict[str, Any] = {"qasm": text, "shots": int(shots)}
        if seed is not None:
            payload["seed"] = int(seed)
        if noise:
            payload["noise"] = dict(noise)
        response = self._post(node, "/run-circuit", payload, read_timeout=self.timeout_s)
        where = f"{display_endpoint(endpoint_of(node))}/run-circuit"
        if response.status_code != 200:
            error = CircuitError if _circuit_caused(response) else NodeExecutionError
            raise error(node.node_id, f"{where} refused circuit {label!r}: {_status_text(response)}")
        data = _json_body(response, node, where)
        if not isinstance(data, dict) or "counts" not in data:
            raise NodeExecutionError(node.node_id, f"{where} answered JSON without a 'counts' object")
        return check_counts(data["counts"], shots, node.node_id, where)

    def execute_batch(self, tasks: Sequence[ShotTask], node_spec: QPUNodeSpec) -> list[TaskOutcome]:
        """Use ``/run-batch`` when the server offers it, else ``/run-circuit`` per task."""
        texts: dict[int, tuple[QuantumCircuit, str | NodeExecutionError]] = {}  # per circuit, this batch only

        def text_of(circuit: QuantumCircuit) -> str:
            entry = texts.get(id(circuit))
            if entry is None:
                try:
                    text: str | NodeExecutionError = _qasm_text(circuit)
                except QasmError as error:
                    text = NodeExecutionError(node_spec.node_id, f"cannot send {circuit.name!r} as OpenQASM 3: {error}")
                entry = texts[id(circuit)] = (circuit, text)
            if isinstance(entry[1], NodeExecutionError):
                raise entry[1]
            return entry[1]

        outcomes: list[TaskOutcome] = [None] * len(tasks)
        if any(task.run_options.get("noise") for task in tasks):
            refusal = self._noise_refusal(node_spec)
            if refusal is not None:
                return [refusal] * len(tasks)
        sendable: list[int] = []
        for index, task in enumerate(tasks):
            try:
                text_of(task.circuit)
                sendable.append(index)
            except NodeExecutionError as error:
                outcomes[index] = error
        if len(sendable) > 1 and self._batch_capable(node_spec):
            for start in range(0, len(sendable), self.batch_size):
                indices = sendable[start:start + self.batch_size]
                piece = [tasks[i] for i in indices]
                try:
                    results = self._run_batch(piece, node_spec, text_of)
                except EndpointUnreachable as error:  # do not send the next pieces to a dead peer
                    for index in sendable[start:]:
                        outcomes[index] = error
                    break
                except NodeExecutionError as error:
                    results = [error] * len(piece)
                for index, result in zip(indices, results, strict=True):
                    outcomes[index] = result
            return outcomes
        for position, index in enumerate(sendable):
            task = tasks[index]
            try:
                outcomes[index] = self._run_one(text_of(task.circuit), task.shots, task.seed, node_spec,
                                                label=f"{task.circuit.name} {task.key}",
                                                noise=task.run_options.get("noise"))
            except EndpointUnreachable as error:  # do not wait out retries for every remaining task
                for rest in sendable[position:]:
                    outcomes[rest] = error
                break
            except NodeExecutionError as error:
                outcomes[index] = error
        return outcomes

    def _run_batch(self, tasks: Sequence[ShotTask], node: QPUNodeSpec, text_of: Any) -> list[TaskOutcome]:
        items = []
        for task in tasks:
            item: dict[str, Any] = {"qasm": text_of(task.circuit), "shots": int(task.shots)}
            if task.seed is not None:
                item["seed"] = int(task.seed)
            if task.run_options.get("noise"):
                item["noise"] = dict(task.run_options["noise"])
            items.append(item)
        read_timeout = min(self.timeout_s * max(1, len(tasks)), 86400.0)
        response = self._post(node, "/run-batch", {"circuits": items}, read_timeout=read_timeout)
        where = f"{display_endpoint(endpoint_of(node))}/run-batch"
        if response.status_code in (404, 405) and self.batch is None:
            with self._lock:
                self._capabilities.setdefault(endpoint_of(node), {})["batch"] = False
            logger.info("%s has no batch endpoint; sending circuits one by one", where)
            raise NodeExecutionError(node.node_id, f"{where} is not available (HTTP {response.status_code})")
        if response.status_code != 200:
            raise NodeExecutionError(node.node_id, f"{where} refused a batch of {len(tasks)}: {_status_text(response)}")
        data = _json_body(response, node, where)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list) or len(results) != len(tasks):
            raise NodeExecutionError(node.node_id, f"{where} answered without one result per circuit")
        outcomes: list[TaskOutcome] = []
        for task, result in zip(tasks, results, strict=True):
            try:
                if not isinstance(result, dict):
                    raise NodeExecutionError(node.node_id, f"{where}: result for {task.key} is not an object")
                if "counts" in result and result["counts"] is not None:
                    outcomes.append(check_counts(result["counts"], task.shots, node.node_id, where))
                else:
                    status = result.get("status", "?")
                    error = CircuitError if result.get("cause") == CIRCUIT_CAUSE else NodeExecutionError
                    raise error(
                        node.node_id, f"{where} refused {task.circuit.name!r} {task.key}: HTTP {status}: "
                        f"{str(result.get('error', 'no error message'))[:500]}"
                    )
            except NodeExecutionError as error:
                outcomes.append(error)
        return outcomes

    def _noise_refusal(self, node: QPUNodeSpec) -> NodeExecutionError | None:
        """Why noisy chunks may not go to this endpoint (its /health does not announce noise), or None."""
        endpoint = endpoint_of(node)
        known = self._known_capabilities(endpoint, node)
        if known.get("noise") is True:
            return None
        return NodeExecutionError(
            node.node_id,
            f"{display_endpoint(endpoint)} does not announce noise support in /health (\"noise\": true), so it "
            "would simulate noisy chunks without noise; refusing to send them. Serve it with `qcos bridge serve`, "
            "or run noisy circuits on other nodes",
        )

    def _known_capabilities(self, endpoint: str, node: QPUNodeSpec) -> dict[str, Any]:
        """What ``endpoint``'s /health announced; probed once when not known yet."""
        with self._lock:
            known = self._capabilities.get(endpoint)
        if known is None:
            self._probe(endpoint, node)
            with self._lock:
                known = self._capabilities.get(endpoint, {})
        return known

    def _batch_capable(self, node: QPUNodeSpec) -> bool:
        if self.batch is not None:
            return self.batch
        endpoint = endpoint_of(node)
        known = self._known_capabilities(endpoint, node)
        return bool(known.get("batch"))

    # -- health -------------------------------------------------------------
    def _probe(self, endpoint: str, node: QPUNodeSpec) -> str | None:
        """GET /health; remember what the server advertises. Returns why it is unhealthy, or None."""
        import httpx

        try:
            response = self.client().get(
                endpoint + "/health", headers=self._headers(node), timeout=min(HEALTH_TIMEOUT_S, self.timeout_s)
            )
        except httpx.HTTPError as error:
            return f"unreachable ({type(error).__name__}: {error or 'no answer'})"
        if response.status_code != 200:
            return f"/health answered {_status_text(response)}"
        try:
            data = response.json()
        except ValueError:
            return "/health did not answer JSON"
        if not isinstance(data, dict) or data.get("status") != "ok":
            return f"/health status is {data.get('status') if isinstance(data, dict) else data!r}, not 'ok'"
        with self._lock:
            self._capabilities[endpoint] = data
        return None

    def health_check(self) -> bool:
        """Probe every endpoint; nodes of failing ones go offline (and come back when healthy).

        True when at least one endpoint is healthy; ``health_reason`` lists the failing ones.
        """
        nodes = self.nodes
        by_endpoint: dict[str, list[QPUNodeSpec]] = {}
        for node in nodes:
            by_endpoint.setdefault(str(node.credentials.get("endpoint", "")), []).append(node)
        if not by_endpoint:
            self.health_reason = "no endpoints configured"
            return False
        with ThreadPoolExecutor(max_workers=min(16, len(by_endpoint))) as pool:
            problems = dict(zip(by_endpoint, pool.map(lambda e: self._probe(e, by_endpoint[e][0]), by_endpoint),
                                strict=True))
        failing = []
        for endpoint, problem in problems.items():
            for node in by_endpoint[endpoint]:
                if problem is None:
                    if not node.online and (node.offline_reason or "").startswith(UNHEALTHY):
                        node.online, node.offline_reason = True, None
                    self._apply_limits(node, endpoint)
                else:
                    node.mark_offline(f"{UNHEALTHY}: {display_endpoint(endpoint)}: {problem}")
            if problem is not None:
                failing.append(f"{display_endpoint(endpoint)}: {problem}")
                logger.warning("REST endpoint %s is unhealthy: %s", display_endpoint(endpoint), problem)
        self.health_reason = "; ".join(failing) or None
        return len(failing) < len(problems)

    def _apply_limits(self, node: QPUNodeSpec, endpoint: str) -> None:
        advertised = self._capabilities.get(endpoint, {}).get("max_qubits")
        if isinstance(advertised, int) and not isinstance(advertised, bool) and 0 < advertised < node.max_qubits:
            logger.info("node %s: %s takes at most %d qubits; lowering max_qubits from %d",
                        node.node_id, display_endpoint(endpoint), advertised, node.max_qubits)
            node.max_qubits = advertised

    def close(self) -> None:
        with self._lock:
            clients, self._client, self._watch_client = (self._client, self._watch_client), None, None
        for client in clients:
            if client is not None:
                client.close()


def check_counts(counts: object, shots: int, node_id: str, where: str) -> Counts:
    """Counts must be {bitstring: non-negative int} summing to ``shots``."""
    if not isinstance(counts, dict) or not counts:
        raise NodeExecutionError(node_id, f"{where}: 'counts' must be a non-empty object, got {type(counts).__name__}")
    total = 0
    for key, value in counts.items():
        if not isinstance(key, str) or not key or any(ch not in "01 " for ch in key):
            raise NodeExecutionError(node_id, f"{where}: counts key {key!r} is not a bitstring")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise NodeExecutionError(node_id, f"{where}: counts value for {key!r} is {value!r}, not a count")
        total += value
    if total != shots:
        raise NodeExecutionError(node_id, f"{where}: counts add up to {total} shots, but {shots} were asked for")
    return dict(counts)


def _qasm_text(circuit: QuantumCircuit) -> str:
    from qcos.circuits.qasm import dumps

    return dumps(circuit)


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300].strip() or response.reason_phrase
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])[:500]
    return str(data)[:300]


def _circuit_caused(response: httpx.Response) -> bool:
    """Whether a qcos bridge labelled this error as caused by the circuit (any node would fail it)."""
    return response.status_code != 200 and response.headers.get(CAUSE_HEADER, "").lower() == CIRCUIT_CAUSE


def _status_text(response: httpx.Response) -> str:
    text = f"HTTP {response.status_code}: {_detail(response)}"
    if response.status_code == 401:
        text += " (check api_key)"
    return text


__all__ = [
    "CustomRESTProvider",
    "EndpointUnreachable",
    "build_rest_nodes",
    "check_counts",
    "display_endpoint",
    "endpoint_of",
    "normalize_endpoint",
    "repoint_nodes",
]


def _json_body(response: httpx.Response, node: QPUNodeSpec, where: str) -> Any:
    """The decoded JSON of an answer, or a NodeExecutionError naming the endpoint."""
    try:
        return response.json()
    except ValueError as error:
        raise NodeExecutionError(node.node_id, f"{where} answered something that is not JSON") from error
