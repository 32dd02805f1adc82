"""The HTTP connections of a ``custom_rest`` provider: pooled httpx clients, created on first use."""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from qcos.providers.rest.settings import RestSettings

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

USER_AGENT = "qcos-custom-rest"


class HttpClients:
    """One pooled, thread-safe keep-alive client, and one for watched requests (a fresh connection each).

    ``size()`` is asked for the pool size when a client is made; ``transport`` replaces the
    network (unit tests: ``httpx.MockTransport``).
    """

    def __init__(self, settings: RestSettings, size: Callable[[], int]) -> None:
        self.settings = settings
        self.transport: httpx.BaseTransport | None = None
        self._size = size
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._watch_client: httpx.Client | None = None

    def shared(self) -> httpx.Client:
        """The shared pooled client (created on first use)."""
        with self._lock:
            if self._client is None:
                self._client = self._new_client(keepalive=True)
            return self._client

    def watched(self) -> httpx.Client:
        """The client of watched requests: a fresh connection each, so a hung one can be cut alone."""
        with self._lock:
            if self._watch_client is None:
                self._watch_client = self._new_client(keepalive=False)
            return self._watch_client

    def reset(self, settings: RestSettings) -> None:
        """Use ``settings`` from now on; open clients are closed (new ones are made on next use)."""
        self.settings = settings
        self.close()

    def close(self) -> None:
        with self._lock:
            clients, self._client, self._watch_client = (self._client, self._watch_client), None, None
        for client in clients:
            if client is not None:
                client.close()

    def _new_client(self, *, keepalive: bool) -> httpx.Client:
        import httpx

        settings = self.settings
        verify: bool | ssl.SSLContext = (
            ssl.create_default_context(cafile=settings.verify) if isinstance(settings.verify, str) else settings.verify
        )
        size = max(10, self._size())
        return httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size if keepalive else 0),
            verify=verify,
            proxy=settings.proxy,
            trust_env=False,
            transport=self.transport,
            headers={"User-Agent": USER_AGENT},
        )
