"""A threaded local port forwarder: 127.0.0.1:PORT -> SSH direct-tcpip channel -> remote host:port."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from qcos.exceptions import TunnelError

logger = logging.getLogger(__name__)

BUFFER_SIZE = 256 * 1024
#: ``open_channel(dest, origin)`` -> a connected paramiko Channel (or raises).
ChannelOpener = Callable[[tuple[str, int], tuple[str, int]], Any]


class _Pair:
    """One forwarded connection: a local socket and its channel, copied both ways by two threads."""

    def __init__(self, sock: socket.socket, channel: Any, on_done: Callable[[_Pair], None]) -> None:
        self.sock = sock
        self.channel = channel
        self._on_done = on_done
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self.cut = False  # True when the SSH transport died under this connection

    def run(self) -> None:
        """Copy both directions until both ends are done (called in the connection's thread)."""
        back = threading.Thread(target=self._channel_to_socket, name="qcos-fwd-in", daemon=True)
        back.start()
        self._socket_to_channel()
        back.join()
        self.close()

    def _socket_to_channel(self) -> None:
        self._pump(self.sock.recv, self.channel.sendall, self._local_eof, "local->remote")

    def _channel_to_socket(self) -> None:
        self._pump(self.channel.recv, self.sock.sendall, self._remote_eof, "remote->local")

    def _pump(self, read: Callable[[int], bytes], write: Callable[[bytes], Any], at_end: Callable[[], None],
              direction: str) -> None:
        """Copy ``read`` to ``write`` until the source ends (then ``at_end()``), an error, or close."""
        try:
            while not self._closed.is_set():
                data = read(BUFFER_SIZE)
                if not data:
                    at_end()
                    return
                write(data)
        except Exception as error:  # OSError, or paramiko's SSHException/EOFError
            if not self._closed.is_set():
                logger.debug("forward %s ended: %s", direction, error)
            self.close()

    def _local_eof(self) -> None:
        """The local client finished sending: pass the EOF on to the channel."""
        with contextlib.suppress(Exception):
            self.channel.shutdown_write()

    def _remote_eof(self) -> None:
        """The channel gave no more data: a clean EOF is passed on; none means the transport was lost."""
        if self.channel.eof_received:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)
            return
        # No EOF: the SSH transport died under us; fail the local side now.
        logger.debug("channel closed without EOF (transport lost)")
        self.cut = True
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(Exception):
            self.channel.close()
        self._on_done(self)


class LocalForwarder:
    """Listen on ``bind_host:local_port`` and forward each connection to ``remote`` through SSH.

    Each accepted connection gets its own channel and a pair of copy threads, so many
    clients (e.g. eight REST workers with keep-alive pools) run at once. The listener
    does not depend on the SSH transport: when it drops, connections accepted during
    the outage wait in ``open_channel`` for the reconnect; connections in flight fail.
    """

    def __init__(
        self,
        open_channel: ChannelOpener,
        remote: tuple[str, int],
        *,
        local_port: int = 0,
        bind_host: str = "127.0.0.1",
        backlog: int = 128,
    ) -> None:
        self._open_channel = open_channel
        self.remote = remote
        self.bind_host = bind_host
        self._requested_port = int(local_port or 0)
        self._backlog = backlog
        self._listener: socket.socket | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._pairs: set[_Pair] = set()
        self._lock = threading.Lock()
        self.accepted = 0
        self.failed = 0
        #: Connections cut because the SSH transport died under them.
        self.cut = 0

    @property
    def local_port(self) -> int:
        if self._port is None:
            raise TunnelError("the forwarder is not listening yet; call start() first")
        return self._port

    @property
    def active(self) -> int:
        """Connections being forwarded right now."""
        with self._lock:
            return len(self._pairs)

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._stop.is_set()

    def start(self) -> LocalForwarder:
        """Bind the listening socket (raises :class:`TunnelError` if the port is taken)."""
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.bind_host, self._requested_port))
        except OSError as error:
            listener.close()
            raise TunnelError(
                f"cannot listen on {self.bind_host}:{self._requested_port}: {error}; "
                f"choose another local port (or 0 for any free port)"
            ) from error
        listener.listen(self._backlog)
        listener.settimeout(0.25)
        self._listener = listener
        self._port = int(listener.getsockname()[1])
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"qcos-fwd-{self.local_port}", daemon=True
        )
        self._thread.start()
        logger.info("forwarding %s:%d -> %s:%d", self.bind_host, self.local_port, *self.remote)
        return self

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            client.settimeout(None)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.accepted += 1
            threading.Thread(
                target=self._serve, args=(client, address), name="qcos-fwd-conn", daemon=True
            ).start()

    def _serve(self, client: socket.socket, address: tuple[str, int]) -> None:
        try:
            channel = self._open_channel(self.remote, (address[0], int(address[1])))
        except Exception as error:
            self.failed += 1
            logger.warning("cannot forward a connection to %s:%d: %s", *self.remote, error)
            with contextlib.suppress(OSError):
                client.close()
            return
        pair = _Pair(client, channel, self._forget)
        with self._lock:
            if self._stop.is_set():
                pair.close()
                return
            self._pairs.add(pair)
        pair.run()

    def _forget(self, pair: _Pair) -> None:
        with self._lock:
            self._pairs.discard(pair)
            self.cut += int(pair.cut)

    def close(self) -> None:
        """Stop listening and cut every forwarded connection."""
        self._stop.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            pair.close()
