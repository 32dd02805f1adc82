"""LocalForwarder unit tests with socket-backed stand-ins for paramiko channels."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest
from helpers import wait_for

from qcos.exceptions import TunnelError
from qcos.tunnels.forward import LocalForwarder


class SocketChannel:
    """The part of paramiko.Channel the forwarder uses, over a plain socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.eof_received = False
        self.closed = False

    def recv(self, size: int) -> bytes:
        try:
            data = self.sock.recv(size)
        except OSError:
            data = b""
        if not data and not self.closed:
            self.eof_received = True
        return data

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown_write(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Like paramiko's close: a recv blocked in another thread returns (a bare close would not wake it)."""
        self.closed = True
        with suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def die(self) -> None:
        """Like a dead SSH transport: closed without an EOF."""
        self.closed = True
        self.sock.shutdown(socket.SHUT_RDWR)


def echo_pair() -> tuple[socket.socket, threading.Thread]:
    ours, theirs = socket.socketpair()

    def echo() -> None:
        with theirs:
            while data := theirs.recv(65536):
                theirs.sendall(data)
            theirs.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    return ours, thread


def test_round_trip_and_counters() -> None:
    channels: list[SocketChannel] = []

    def opener(dest, origin):
        assert dest == ("remote", 8888) and origin[0] == "127.0.0.1"
        channel = SocketChannel(echo_pair()[0])
        channels.append(channel)
        return channel

    forwarder = LocalForwarder(opener, ("remote", 8888)).start()
    try:
        for payload in (b"a", b"hello" * 100_000):
            with socket.create_connection(("127.0.0.1", forwarder.local_port), timeout=10) as client:
                client.sendall(payload)
                client.shutdown(socket.SHUT_WR)
                received = b""
                while data := client.recv(65536):
                    received += data
            assert received == payload
        assert forwarder.accepted == 2 and forwarder.failed == 0
    finally:
        forwarder.close()
    assert not forwarder.listening


@contextmanager
def started(opener) -> Iterator[LocalForwarder]:
    forwarder = LocalForwarder(opener, ("remote", 1)).start()
    try:
        yield forwarder
    finally:
        forwarder.close()


def test_opener_failure_closes_only_that_connection() -> None:
    def opener(dest, origin):
        raise TunnelError("remote refused")

    with started(opener) as forwarder:
        with socket.create_connection(("127.0.0.1", forwarder.local_port), timeout=10) as client:
            assert client.recv(10) == b""
        wait_for(lambda: forwarder.failed == 1, 60.0, "the failed connection to be counted")
        assert forwarder.listening


def test_dead_transport_cuts_the_connection_and_counts_it() -> None:
    channels: list[SocketChannel] = []

    def opener(dest, origin):
        channels.append(SocketChannel(echo_pair()[0]))
        return channels[-1]

    with started(opener) as forwarder:
        client = socket.create_connection(("127.0.0.1", forwarder.local_port), timeout=10)
        client.sendall(b"ping")
        assert client.recv(4) == b"ping"
        channels[0].die()
        with suppress(ConnectionResetError):  # a reset is as good as an EOF here
            assert client.recv(4) == b""
        client.close()
        wait_for(lambda: forwarder.cut == 1 and forwarder.active == 0, 60.0, "the cut connection to close")


def test_close_cuts_active_connections_and_frees_the_port() -> None:
    def opener(dest, origin):
        return SocketChannel(echo_pair()[0])

    forwarder = LocalForwarder(opener, ("remote", 1)).start()
    port = forwarder.local_port
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    client.sendall(b"x")
    assert client.recv(1) == b"x"
    wait_for(lambda: forwarder.active == 1, 60.0, "one active connection")
    forwarder.close()
    assert client.recv(1) == b""
    client.close()
    assert forwarder.active == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_port_in_use_is_reported() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(TunnelError, match="choose another local port"):
            LocalForwarder(lambda d, o: None, ("remote", 1), local_port=port).start()
