"""The HTTP connections of a ``custom_rest`` provider: pooled keep-alive httpx clients, created on first use.

Requests watched for liveness go through one pool per endpoint that remembers the sockets it
opened: when that peer goes silent, :meth:`HttpClients.cut` shuts every one of them down (so
a request blocked on a reused connection returns too, as PeerSilentError) and drops the pool
as a whole; the next request opens a fresh one. Keeping those connections alive matters through SSH tunnels,
where each new connection is a new SSH channel.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from qcos.exceptions import PeerSilentError
from qcos.providers.rest.settings import RestSettings

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

USER_AGENT = "qcos-custom-rest"


class WatchedPool:
    """Keep-alive connections to one endpoint whose sockets are remembered, so that all can be cut."""

    def __init__(self, client: httpx.Client, endpoint: str) -> None:
        self.client = client
        self.endpoint = endpoint
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._silent: str | None = None

    def post(self, url: str, *, content: bytes, headers: Mapping[str, str], timeout: httpx.Timeout) -> httpx.Response:
        """POST through this pool; PeerSilentError when the pool is cut meanwhile (not worth a retry)."""
        import httpx

        try:
            return self.client.post(url, content=content, headers=headers, timeout=timeout,
                                    extensions={"trace": self._trace})
        except (httpx.TransportError, RuntimeError) as error:  # RuntimeError: the client is closed
            if self._silent is not None:
                raise PeerSilentError(self._silent) from error
            raise

    def _trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore's trace hook: remember the socket of every connection this pool opens."""
        extra_info = getattr(info.get("return_value"), "get_extra_info", None)
        if not event.endswith(".complete") or extra_info is None:
            return
        sock = None
        with contextlib.suppress(Exception):
            sock = extra_info("socket")
        if isinstance(sock, socket.socket):
            with self._lock:
                self._sockets = [s for s in self._sockets if s.fileno() != -1 and s is not sock]
                self._sockets.append(sock)

    def cut(self, reason: str) -> None:
        """The peer is silent (``reason``): shut every connection down (a blocked read returns) and close."""
        self._silent = reason
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.client.close()


class HttpClients:
    """One pooled, thread-safe keep-alive client, and a :class:`WatchedPool` per endpoint for watched requests.

    ``size()`` is asked for the pool size when a client is made; ``transport`` replaces the
    network (unit tests: ``httpx.MockTransport``).
    """

    def __init__(self, settings: RestSettings, size: Callable[[], int]) -> None:
        self.settings = settings
        self.transport: httpx.BaseTransport | None = None
        self._size = size
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._watched: dict[str, WatchedPool] = {}

    def shared(self) -> httpx.Client:
        """The shared pooled client (created on first use)."""
        with self._lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def watched(self, endpoint: str) -> WatchedPool:
        """The keep-alive pool of watched requests to ``endpoint`` (created on first use)."""
        with self._lock:
            pool = self._watched.get(endpoint)
            if pool is None:
                pool = self._watched[endpoint] = WatchedPool(self._new_client(), endpoint)
            return pool

    def cut(self, pool: WatchedPool, reason: str) -> None:
        """Its peer went silent: shut ``pool``'s connections down; the endpoint's next request opens a new one.

        Other requests that were using the pool fail with PeerSilentError(``reason``) at once.
        """
        with self._lock:
            if self._watched.get(pool.endpoint) is pool:
                del self._watched[pool.endpoint]
        pool.cut(reason)

    def reset(self, settings: RestSettings) -> None:
        """Use ``settings`` from now on; open clients are closed (new ones are made on next use)."""
        self.settings = settings
        self.close()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            pools, self._watched = list(self._watched.values()), {}
        if client is not None:
            client.close()
        for pool in pools:
            pool.client.close()

    def _new_client(self) -> httpx.Client:
        import httpx

        settings = self.settings
        verify: bool | ssl.SSLContext = (
            ssl.create_default_context(cafile=settings.verify) if isinstance(settings.verify, str) else settings.verify
        )
        size = max(10, self._size())
        return httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            verify=verify,
            proxy=settings.proxy,
            trust_env=False,
            transport=self.transport,
            headers={"User-Agent": USER_AGENT},
        )
