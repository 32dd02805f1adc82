"""``ssh_bridge``: custom_rest nodes that reach a remote bridge through a managed SSH tunnel."""

from __future__ import annotations

import inspect
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar

from qcos.checks import require_int
from qcos.counts import Counts
from qcos.exceptions import EndpointUnreachable, HostKeyError, TunnelError
from qcos.providers.base import ShotTask, TaskOutcome
from qcos.providers.rest import UNHEALTHY, CustomRESTProvider, build_rest_nodes
from qcos.providers.spec import QPUNodeSpec
from qcos.tunnels.settings import SSHSettings

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

    from qcos.tunnels.manager import SSHTunnel

logger = logging.getLogger(__name__)

#: How long a chunk whose connection died waits for the tunnel to come back before failing.
DEFAULT_RECONNECT_WAIT_S = 60.0
#: Offline reason of nodes whose tunnel could not be opened when the cluster was built.
OFFLINE_AT_BUILD = "SSH tunnel unavailable at build"
#: Where such nodes point until the tunnel opens (never contacted: the nodes are offline).
_PLACEHOLDER_URL = "http://127.0.0.1:9"


def _safe_host(host: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "-", host).strip("-") or "host"


def _check_arguments(host: object, n_workers: object, remote_port: object, local_port: object,
                     reconnect_wait_s: object) -> None:
    """ValueError naming the first bad argument (before any connection is made)."""
    if not isinstance(host, str) or not host.strip():
        raise ValueError(f"host must be an ssh config alias or [user@]host[:port], got {host!r}")
    require_int("n_workers", n_workers)
    require_int("remote_port", remote_port, maximum=65535, what="a TCP port (1-65535)")
    if local_port is not None:
        require_int("local_port", local_port, minimum=0, maximum=65535, what="a TCP port or None (any free port)")
    if not isinstance(reconnect_wait_s, int | float) or not reconnect_wait_s >= 0:
        raise ValueError(f"reconnect_wait_s must be >= 0 seconds, got {reconnect_wait_s!r}")


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _lists_ssh_settings(method: _Method) -> _Method:
    """Show :class:`SSHSettings`' fields in ``method``'s signature in place of its ``**ssh_options``.

    The cluster builder reads the signature to refuse unknown arguments with the list of
    valid ones; the SSH options stay listed once, in the dataclass.
    """
    signature = inspect.signature(method)
    parameters = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    parameters += [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
        for f in fields(SSHSettings)
    ]
    method.__dict__["__signature__"] = signature.replace(parameters=parameters)
    return method


@dataclass(frozen=True)
class _TunnelRequest:
    """What the provider asks the tunnel cache for, every time it (re)acquires its tunnel."""

    host: str
    remote_port: int
    remote_host: str
    local_port: int | None
    ssh: SSHSettings

    def acquire(self) -> SSHTunnel:
        from qcos.tunnels.manager import acquire_tunnel

        return acquire_tunnel(self.host, self.remote_port, remote_host=self.remote_host,
                              local_port=self.local_port, settings=self.ssh)


class SSHBridgeProvider(CustomRESTProvider):
    """``n_workers`` REST nodes (``ssh-<host>-0``, ...) behind one shared SSH tunnel.

    ``ClusterBuilder().add("ssh_bridge", host="lumi", remote_port=8888, n_workers=8,
    api_key=..., max_qubits=34, timeout_s=120)`` replaces the spec's hand-made
    ``ssh -N -L 18888:localhost:8888 lumi &`` plus ``custom_rest``. Tunnels are shared
    per (host, remote end, SSH settings) within the process and closed when the last
    provider using one closes. When the SSH connection drops, the tunnel reconnects,
    and chunks that were cut off are re-sent once it is back.
    """

    DISPLAY_NAME = "REST bridge through an SSH tunnel"

    def __init__(self) -> None:
        super().__init__()
        self._tunnel: SSHTunnel | None = None
        self._request: _TunnelRequest | None = None
        self._tunnel_lock = threading.Lock()
        self._closed = False
        self._build_error: str | None = None
        self.host: str | None = None
        self.reconnect_wait_s = DEFAULT_RECONNECT_WAIT_S

    @_lists_ssh_settings
    def build_nodes(  # type: ignore[override]  # host and SSH options, not custom_rest's endpoints
        self,
        *,
        host: str,
        remote_port: int = 8888,
        n_workers: int = 8,
        api_key: str | None = None,
        api_key_env: str | None = None,
        api_key_file: str | None = None,
        max_qubits: int = 34,
        timeout_s: float = 120.0,
        local_port: int | None = None,
        remote_host: str = "localhost",
        reconnect_wait_s: float = DEFAULT_RECONNECT_WAIT_S,
        retries: int = 2,
        batch: bool | None = None,
        tags: Sequence[str] | None = None,
        liveness_s: float | None = 10.0,
        **ssh_options: Any,
    ) -> list[QPUNodeSpec]:
        """Open (or reuse) the tunnel to ``host`` and return ``n_workers`` nodes through it.

        ``ssh_options`` are :class:`~qcos.tunnels.settings.SSHSettings`' fields
        (``ssh_config``, ``known_hosts``, ``identity``, ``port``, ``user``,
        ``host_key_policy``, ...). When the tunnel cannot be opened (host down, refused,
        timed out) the nodes are returned offline with the reason, as custom_rest does for
        a dead endpoint, so the rest of the cluster (e.g. a local fallback) runs; health
        checks retry the tunnel. An unknown or changed host key still raises ``HostKeyError``.
        """
        from qcos.providers.keys import resolve_api_key

        api_key = resolve_api_key(api_key, api_key_env, api_key_file)  # before any connection is made
        _check_arguments(host, n_workers, remote_port, local_port, reconnect_wait_s)
        ssh = SSHSettings.of(**ssh_options)
        if self._request is not None:
            raise ValueError("this SSHBridgeProvider already built its nodes; use one provider per ClusterBuilder.add")
        self.configure(timeout_s=timeout_s, retries=retries, batch=batch, liveness_s=liveness_s)
        self.host = host
        self.reconnect_wait_s = float(reconnect_wait_s)
        self._request = _TunnelRequest(host, remote_port, remote_host, local_port, ssh)
        tunnel = self._first_tunnel(n_workers)
        try:
            nodes = build_rest_nodes(
                [tunnel.local_url if tunnel is not None else _PLACEHOLDER_URL] * n_workers,
                id_prefix=f"ssh-{_safe_host(host)}",
                max_qubits=max_qubits,
                api_key=api_key,
                tags=["ssh", host, *(tags or [])],
            )
        except ValueError:
            self.close()
            raise
        self.adopt(nodes)
        if self._build_error:
            for node in nodes:
                node.mark_offline(self._build_error)
        return nodes

    def _first_tunnel(self, n_workers: int) -> SSHTunnel | None:
        """The tunnel at build time, or None (and ``_build_error``) when it cannot be opened yet."""
        assert self._request is not None
        try:
            tunnel: SSHTunnel | None = self._request.acquire()
        except HostKeyError:
            raise  # an unknown or changed host key needs the user's decision: never fall back silently
        except TunnelError as error:
            tunnel, self._build_error = None, f"{OFFLINE_AT_BUILD}: {error}"
            logger.warning("ssh_bridge %s: %s; its %d node(s) are offline, the rest of the cluster runs",
                           self.host, error, n_workers)
        self._tunnel = tunnel
        if tunnel is not None:
            tunnel.connection.add_listener(self._on_reconnect)
        return tunnel

    # -- the tunnel -----------------------------------------------------------------
    @property
    def tunnel(self) -> SSHTunnel | None:
        return self._tunnel

    def status(self) -> dict[str, Any]:
        """The tunnel's state, shown in ``QPURegistry.status_report()``."""
        return self.tunnel_status()

    def tunnel_status(self) -> dict[str, Any]:
        """The tunnel's state, local URL, remote end and counters (for health reports)."""
        if self._tunnel is None:
            return {"state": "not built"}
        return self._tunnel.status()

    def _ensure_tunnel(self) -> SSHTunnel:
        """The live tunnel; re-acquires a new one (and re-points the nodes) if it was closed."""
        with self._tunnel_lock:
            tunnel, request = self._tunnel, self._request
            if self._closed or (tunnel is None and request is None):
                raise TunnelError("the ssh_bridge provider is closed")
            if tunnel is not None and tunnel.state != "closed":
                return tunnel
            if request is None:
                raise TunnelError("the ssh_bridge provider has no tunnel to reopen: build its nodes first")
            old_url = tunnel.local_url if tunnel is not None else _PLACEHOLDER_URL
            fresh = request.acquire()
            fresh.connection.add_listener(self._on_reconnect)
            self._tunnel = fresh
        self.repoint(old_url, fresh.local_url)
        if tunnel is None:  # the tunnel failed at build and works now: bring the nodes in
            self._build_error = None
            for node in self.nodes:
                node.mark_online(OFFLINE_AT_BUILD, UNHEALTHY)
            logger.info("ssh_bridge %s: the SSH tunnel is up now", self.host)
        return fresh

    def _on_reconnect(self, connection: Any) -> None:
        """Bring back nodes a health check took offline while the tunnel was down."""
        for node in self.nodes:
            if node.mark_online(UNHEALTHY, "health check"):
                logger.info("node %s is back: the SSH tunnel reconnected", node.node_id)

    def _wait_for_tunnel(self) -> bool:
        try:
            tunnel = self._ensure_tunnel()
        except TunnelError:
            return False
        if not tunnel.wait_connected(self.reconnect_wait_s):
            logger.warning("SSH tunnel to %s did not come back within %.0f s (%s)",
                           self.host, self.reconnect_wait_s, tunnel.connection.last_error)
            return False
        return True

    # -- execution: re-send what a dropped connection cut off -------------------------
    def execute(self, circuit: QuantumCircuit, shots: int, node_spec: QPUNodeSpec, *,
                seed: int | None = None) -> Counts:
        self._ensure_tunnel()
        try:
            return super().execute(circuit, shots, node_spec, seed=seed)
        except EndpointUnreachable:
            if not self._wait_for_tunnel():
                raise
            return super().execute(circuit, shots, node_spec, seed=seed)

    def execute_batch(self, tasks: Sequence[ShotTask], node_spec: QPUNodeSpec) -> list[TaskOutcome]:
        self._ensure_tunnel()
        outcomes = super().execute_batch(tasks, node_spec)
        lost = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, EndpointUnreachable)]
        if lost and self._wait_for_tunnel():
            logger.info("node %s: re-sending %d chunk(s) over the reconnected tunnel", node_spec.node_id, len(lost))
            again = super().execute_batch([tasks[i] for i in lost], node_spec)
            for index, outcome in zip(lost, again, strict=True):
                outcomes[index] = outcome
        return outcomes

    # -- health and lifetime ------------------------------------------------------------
    def health_check(self) -> bool:
        """The tunnel must be up (waiting briefly for a reconnect) and the bridge's /health ok."""
        try:
            tunnel = self._ensure_tunnel()
        except TunnelError as error:
            return self._unhealthy(f"cannot open the SSH tunnel to {self.host}: {error}")
        if not tunnel.wait_connected(min(10.0, self.reconnect_wait_s)):
            status = tunnel.status()
            return self._unhealthy(f"SSH tunnel to {self.host} is {status['state']}"
                                   + (f": {status['last_error']}" if status.get("last_error") else ""))
        healthy = super().health_check()
        if not healthy and tunnel.wait_connected(min(10.0, self.reconnect_wait_s)):
            healthy = super().health_check()  # a probe cut off by a reconnect gets a second chance
        if not healthy:
            self.health_reason = f"{self.health_reason} (SSH tunnel {tunnel.state}, via {tunnel.local_url})"
        return healthy

    def _unhealthy(self, reason: str) -> bool:
        """The tunnel is down (``reason``): every node goes offline; False, for health_check to return."""
        self.health_reason = reason
        for node in self.nodes:
            node.mark_offline(f"{UNHEALTHY}: {reason}")
        return False

    def close(self) -> None:
        """Close the HTTP client and give the tunnel back (the last user closes it)."""
        from qcos.tunnels.manager import release_tunnel

        with self._tunnel_lock:
            if self._closed:
                return
            self._closed = True
            tunnel, self._tunnel = self._tunnel, None
        super().close()
        if tunnel is not None:
            release_tunnel(tunnel)

    def __repr__(self) -> str:
        state = self._tunnel.state if self._tunnel is not None else "not built"
        return f"<SSHBridgeProvider host={self.host!r} tunnel={state}>"
