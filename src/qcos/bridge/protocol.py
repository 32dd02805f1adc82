"""uvicorn's HTTP/1.1 protocol with the limits it lacks: header/body read deadlines and a connection cap.

uvicorn (0.3x–0.5x) closes idle keep-alive connections but has no deadline for a request that
is being received: a client that sends half its headers, or nothing, holds a connection and a
file descriptor for as long as it likes, and ``limit_concurrency`` only answers 503 once the
headers are in. This subclass adds, per connection and before any authentication:

* a *header* deadline, armed when the connection opens and again after each answer
  (keep-alive): the headers of the next request must be complete by then;
* a *body* deadline, armed when the headers are in: the rest of the request must arrive by
  then (the app answers 408 a little earlier; this is the backstop for bodies it never reads,
  e.g. after a 401);
* a connection cap: connections beyond ``max_connections`` are closed as soon as they open.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)

#: seconds the backstop body deadline waits beyond the app's own 408 deadline
BODY_GRACE_S = 5.0


class GuardedH11Protocol(H11Protocol):
    """H11Protocol with read deadlines and a connection cap (set by :func:`guarded_protocol`)."""

    header_timeout_s: float = 15.0
    body_timeout_s: float = 30.0
    max_connections: int = 256

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: str = ""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn narrows it
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            logger.warning("connection from %s refused: %d connections open (--max-connections %d)",
                           _peer(self.client), len(self.connections) - 1, self.max_connections)
            transport.abort()
            return
        self._arm("headers", self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._waiting_for != "headers":
            self._arm("headers", self.header_timeout_s)  # the first bytes of a request on a kept-alive connection
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        self._follow_state()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # idle now: uvicorn's keep-alive timer takes over
        if self.conn.their_state is h11.IDLE and not self.conn.trailing_data[0]:
            self._disarm()

    # -- deadlines ---------------------------------------------------------
    def _follow_state(self) -> None:
        """Once the headers are in, wait for the body; once the request is in, wait for nothing."""
        if self.transport is None or self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self._waiting_for != "body":
                self._arm("body", self.body_timeout_s + BODY_GRACE_S)
        elif state is not h11.IDLE:
            self._disarm()

    def _arm(self, what: str, seconds: float) -> None:
        self._disarm()
        self._waiting_for = what
        self._deadline = self.loop.call_later(seconds, self._expired, what, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._waiting_for = ""

    def _expired(self, what: str, seconds: float) -> None:
        self._deadline = None
        self._waiting_for = ""
        if self.transport.is_closing():
            return
        logger.info("closing connection from %s: request %s not received within %gs",
                    _peer(self.client), what, seconds)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.abort()


def guarded_protocol(*, header_timeout_s: float, body_timeout_s: float, max_connections: int) -> type[GuardedH11Protocol]:
    """A GuardedH11Protocol subclass with these limits (uvicorn takes a class, not an instance)."""
    return type(
        "BridgeH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s, "max_connections": max_connections},
    )


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "unknown peer"
