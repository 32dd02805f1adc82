"""SSH tunnels (a connection plus a local forwarder) and a process-wide, refcounted tunnel cache."""

from __future__ import annotations

import logging
import threading
from typing import Any

from qcos.exceptions import TunnelError
from qcos.tunnels.connection import ConnectionState, SSHConnection
from qcos.tunnels.forward import LocalForwarder
from qcos.tunnels.settings import SSHSettings

logger = logging.getLogger(__name__)

#: How long a new forwarded connection waits for a dropped transport to come back.
DEFAULT_CHANNEL_WAIT_S = 60.0


class SSHTunnel:
    """``ssh -N -L local_port:remote_host:remote_port host``, managed in-process.

    >>> with SSHTunnel("lumi", remote_port=8888) as tunnel:   # doctest: +SKIP
    ...     httpx.get(f"{tunnel.local_url}/health")

    Connection keyword arguments (``settings=SSHSettings(...)`` and/or its fields
    ``ssh_config``, ``known_hosts``, ``identity``, ``port``, ``user``, ...) go to
    :class:`SSHConnection`; or pass an existing ``connection`` to share it. The local
    listener survives reconnects, so ``local_url`` stays valid for the tunnel's life.
    """

    def __init__(
        self,
        host: str,
        remote_port: int,
        *,
        remote_host: str = "localhost",
        local_port: int = 0,
        bind_host: str = "127.0.0.1",
        connection: SSHConnection | None = None,
        channel_wait_s: float = DEFAULT_CHANNEL_WAIT_S,
        **connection_kwargs: Any,
    ) -> None:
        if not isinstance(remote_port, int) or not 0 < remote_port < 65536:
            raise ValueError(f"remote_port must be a TCP port (1-65535), got {remote_port!r}")
        if not isinstance(local_port, int) or not 0 <= local_port < 65536:
            raise ValueError(f"local_port must be 0 (any free port) or a TCP port, got {local_port!r}")
        self.host = host
        self.remote_host = remote_host
        self.remote_port = remote_port
        self._owns_connection = connection is None
        self.connection = connection or SSHConnection(host, **connection_kwargs)
        self._channel_wait_s = channel_wait_s
        self.forwarder = LocalForwarder(
            self._open_channel, (remote_host, remote_port), local_port=local_port, bind_host=bind_host
        )
        self._closed = False

    def _open_channel(self, dest: tuple[str, int], origin: tuple[str, int]) -> Any:
        return self.connection.open_channel(dest, origin, timeout=self._channel_wait_s)

    def start(self) -> SSHTunnel:
        """Connect (host keys verified, keys tried) and start listening locally."""
        if self._closed:
            raise TunnelError(f"tunnel to {self.host} is closed")
        self.connection.connect()
        try:
            self.forwarder.start()
        except BaseException:
            if self._owns_connection:
                self.connection.close()
            raise
        return self

    @property
    def local_port(self) -> int:
        return self.forwarder.local_port

    @property
    def local_url(self) -> str:
        """``http://127.0.0.1:PORT``: where clients send what should reach the remote port."""
        return f"http://{self.forwarder.bind_host}:{self.local_port}"

    @property
    def state(self) -> str:
        """``connected``, ``reconnecting``, ``down``, ``closed`` (or ``new``)."""
        return ConnectionState.CLOSED.value if self._closed else self.connection.state.value

    @property
    def is_up(self) -> bool:
        return not self._closed and self.connection.state is ConnectionState.CONNECTED

    def wait_connected(self, timeout: float) -> bool:
        return not self._closed and self.connection.wait_connected(timeout)

    def status(self) -> dict[str, Any]:
        """A JSON-ready description: state, local URL, remote end, counters."""
        info = self.connection.status()
        info.update(
            state=self.state,
            local_url=self.local_url if self.forwarder.listening else None,
            remote=f"{self.remote_host}:{self.remote_port}",
            active_connections=self.forwarder.active,
            forwarded_connections=self.forwarder.accepted,
            failed_connections=self.forwarder.failed,
            cut_connections=self.forwarder.cut,
        )
        return info

    def close(self) -> None:
        """Stop listening, cut forwarded connections and (if owned) close the SSH connection."""
        if self._closed:
            return
        self._closed = True
        self.forwarder.close()
        if self._owns_connection:
            self.connection.close()
        logger.info("tunnel to %s:%d via %s closed", self.remote_host, self.remote_port, self.host)

    def __enter__(self) -> SSHTunnel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        port = self.forwarder.local_port if self.forwarder.listening else "-"
        return f"<SSHTunnel 127.0.0.1:{port} -> {self.host}:{self.remote_host}:{self.remote_port} {self.state}>"


# -- the process-wide cache ---------------------------------------------------------

_cache_lock = threading.Lock()
#: (host, remote host, remote port, SSH settings, local port) -> [tunnel, users]
_cache: dict[tuple[Any, ...], list[Any]] = {}


def acquire_tunnel(
    host: str,
    remote_port: int,
    *,
    remote_host: str = "localhost",
    local_port: int | None = None,
    settings: SSHSettings | None = None,
    **options: Any,
) -> SSHTunnel:
    """A started tunnel for (host, remote end, SSH settings), shared within the process.

    The SSH options are ``settings`` and/or :class:`SSHSettings` field names as keywords.
    Each call takes a reference; give it back with :func:`release_tunnel`. A request
    naming a ``local_port`` reuses a cached tunnel only if it listens on that port.
    """
    ssh = SSHSettings.of(settings, **options)
    key = (host, remote_host, remote_port, ssh)
    with _cache_lock:
        for cached_key, entry in _cache.items():
            tunnel: SSHTunnel = entry[0]
            if cached_key[:4] != key or tunnel.state == ConnectionState.CLOSED.value:
                continue
            if local_port and tunnel.local_port != local_port:
                continue
            entry[1] += 1
            logger.debug("reusing %r (%d users)", tunnel, entry[1])
            return tunnel
        tunnel = SSHTunnel(
            host, remote_port, remote_host=remote_host, local_port=local_port or 0, settings=ssh
        ).start()
        _cache[(*key, tunnel.local_port)] = [tunnel, 1]
        return tunnel


def release_tunnel(tunnel: SSHTunnel) -> None:
    """Drop one reference; the last one closes the tunnel."""
    with _cache_lock:
        for key, entry in list(_cache.items()):
            if entry[0] is tunnel:
                entry[1] -= 1
                if entry[1] > 0:
                    return
                del _cache[key]
                break
    tunnel.close()


def cached_tunnels() -> list[SSHTunnel]:
    """The tunnels currently shared in this process (for status displays and tests)."""
    with _cache_lock:
        return [entry[0] for entry in _cache.values()]


def close_all_tunnels() -> None:
    """Close every cached tunnel regardless of users (process shutdown, tests)."""
    with _cache_lock:
        entries = list(_cache.values())
        _cache.clear()
    for tunnel, _count in entries:
        tunnel.close()
