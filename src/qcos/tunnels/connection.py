"""One authenticated SSH connection (with ProxyJump hops) that reconnects by itself when it drops."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from qcos.exceptions import HostKeyError, TunnelError
from qcos.tunnels.hostkeys import parse_policy
from qcos.tunnels.login import open_hop
from qcos.tunnels.remote_exec import run_command
from qcos.tunnels.settings import SSHSettings
from qcos.tunnels.sshconfig import resolve_target

if TYPE_CHECKING:
    import paramiko

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT_S = 15.0
DEFAULT_KEEPALIVE_S = 15.0
DEFAULT_KEEPALIVE_COUNT_MAX = 3
#: Waits between reconnect attempts, in seconds; the last one repeats.
RECONNECT_BACKOFF_S = (0.0, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


class ConnectionState(StrEnum):
    """Where an :class:`SSHConnection` stands."""

    NEW = "new"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DOWN = "down"
    CLOSED = "closed"


class SSHConnection:
    """A paramiko Transport to ``host`` that verifies host keys and comes back after a drop.

    ``host`` is an ssh-config alias or ``[user@]host[:port]``. A background monitor
    probes the server every ``keepalive_s`` and reconnects (with backoff) when the
    transport dies; callers of :meth:`transport` or :meth:`open_channel` wait for the
    new one. The SSH options are ``settings`` (:class:`~qcos.tunnels.settings.SSHSettings`)
    and/or its field names as keywords (``identity=``, ``known_hosts=``, ...); they
    override ``~/.ssh/config``. ``passphrase`` unlocks encrypted identity files;
    ``reconnect=False`` gives up instead of reconnecting after a drop.
    """

    def __init__(
        self,
        host: str,
        settings: SSHSettings | None = None,
        *,
        passphrase: str | None = None,
        reconnect: bool = True,
        **options: Any,
    ) -> None:
        self.host = host
        self.settings = SSHSettings.of(settings, **options)
        config = self.settings
        self.target = resolve_target(
            host, ssh_config=config.ssh_config, user=config.user, port=config.port,
            identity=config.identity, known_hosts=config.known_hosts,
        )
        self.host_key_policy = parse_policy(config.host_key_policy, self.target.strict_host_key_checking)
        self._passphrase = passphrase
        self.keepalive_s = float(config.keepalive_s or self.target.keepalive_s or DEFAULT_KEEPALIVE_S)
        self.keepalive_count_max = int(
            config.keepalive_count_max or self.target.keepalive_count_max or DEFAULT_KEEPALIVE_COUNT_MAX
        )
        self.connect_timeout_s = float(
            config.connect_timeout_s or self.target.connect_timeout_s or DEFAULT_CONNECT_TIMEOUT_S
        )
        self.reconnect_enabled = reconnect
        self._cond = threading.Condition()
        self._transport: paramiko.Transport | None = None
        self._hops: list[paramiko.Transport] = []
        self._state = ConnectionState.NEW
        self._last_error: str | None = None
        self._fatal: TunnelError | None = None
        self._wake = threading.Event()
        self._monitor: threading.Thread | None = None
        self.connects = 0
        self.connected_since: float | None = None
        self._listeners: list[Callable[[SSHConnection], None]] = []

    # -- public API -----------------------------------------------------------------
    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def reconnects(self) -> int:
        """How many times the connection was re-established after the first connect."""
        return max(0, self.connects - 1)

    @property
    def last_error(self) -> str | None:
        return self._last_error

    def connect(self) -> SSHConnection:
        """Connect now (raising :class:`HostKeyError`/:class:`TunnelError`) and start the monitor."""
        with self._cond:
            if self._state is ConnectionState.CLOSED:
                raise TunnelError(f"SSH connection to {self.target.describe()} is closed")
            if self._transport is not None and self._transport.is_active():
                return self
        self._establish()
        if self._monitor is None:
            self._monitor = threading.Thread(
                target=self._monitor_loop, name=f"qcos-ssh-monitor-{self.target.alias}", daemon=True
            )
            self._monitor.start()
        return self

    def transport(self, timeout: float | None = None) -> paramiko.Transport:
        """The live transport, waiting up to ``timeout`` s for a reconnect when it is down."""
        wait = self.connect_timeout_s * 2 if timeout is None else timeout
        deadline = time.monotonic() + wait
        with self._cond:
            while True:
                if self._state is ConnectionState.CLOSED:
                    raise TunnelError(f"SSH connection to {self.target.describe()} is closed")
                transport = self._transport
                if transport is not None and transport.is_active():
                    return transport
                if self._fatal is not None:
                    raise self._fatal
                if self._monitor is None or not self.reconnect_enabled:
                    raise TunnelError(
                        f"SSH connection to {self.target.describe()} is down"
                        f" ({self._last_error or 'not connected'})"
                    )
                self._wake.set()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TunnelError(
                        f"SSH connection to {self.target.describe()} is down and did not come back "
                        f"within {wait:.0f} s (last error: {self._last_error or 'none'})"
                    )
                self._cond.wait(min(remaining, 0.5))

    def wait_connected(self, timeout: float) -> bool:
        """True once the connection is up (False after ``timeout`` s)."""
        try:
            self.transport(timeout)
        except TunnelError:
            return False
        return True

    def open_channel(
        self, dest: tuple[str, int], origin: tuple[str, int] = ("127.0.0.1", 0), timeout: float | None = None
    ) -> paramiko.Channel:
        """A direct-tcpip channel from the server to ``dest``; retried once on a fresh transport."""
        import paramiko

        for attempt in (1, 2):
            transport = self.transport(timeout)
            try:
                return transport.open_channel(
                    "direct-tcpip", dest, origin, timeout=timeout or self.connect_timeout_s
                )
            except paramiko.ChannelException as error:
                raise TunnelError(
                    f"{self.target.hostname} could not connect to {dest[0]}:{dest[1]} "
                    f"({error.text}); is anything listening there?"
                ) from error
            except (paramiko.SSHException, EOFError, OSError) as error:
                if attempt == 2 or transport.is_active():
                    # An open that times out on a live-looking transport: treat it as dead.
                    self._drop(transport, f"opening a channel failed: {error}")
                    if attempt == 2:
                        raise TunnelError(
                            f"cannot open a channel to {dest[0]}:{dest[1]} through "
                            f"{self.target.describe()}: {error}"
                        ) from error
                logger.info("transport to %s died while opening a channel; retrying", self.target.alias)
        raise AssertionError("unreachable")

    def exec(
        self, command: str, *, stdin: bytes | None = None, timeout: float = 60.0
    ) -> tuple[int, str, str]:
        """Run ``command`` on the server; returns (exit code, stdout, stderr).

        ``stdin`` is written to the command's standard input and then closed: the way to
        hand secrets over without putting them on a command line.
        """
        channel = self.transport().open_session(timeout=self.connect_timeout_s)
        return run_command(channel, command, stdin=stdin, timeout=timeout, where=self.target.alias)

    def sftp(self) -> paramiko.SFTPClient:
        """A new SFTP session (close it when done)."""
        import paramiko

        client = paramiko.SFTPClient.from_transport(self.transport())
        if client is None:  # paramiko's answer when the server opens no session channel
            raise TunnelError(f"SSH server {self.target.describe()} opened no SFTP session")
        return client

    def add_listener(self, callback: Callable[[SSHConnection], None]) -> None:
        """Call ``callback(connection)`` after every successful (re)connect."""
        self._listeners.append(callback)

    def client_port(self) -> int | None:
        """The local TCP port of the current connection to the first hop (for tests/diagnostics)."""
        transport = self._hops[0] if self._hops else self._transport
        sock = transport.sock if transport is not None else None
        try:
            return int(sock.getsockname()[1]) if isinstance(sock, socket.socket) else None
        except OSError:
            return None

    def status(self) -> dict[str, Any]:
        """A JSON-ready summary for health reports."""
        return {
            "host": self.host,
            "target": self.target.describe(),
            "state": self._state.value,
            "reconnects": self.reconnects,
            "connected_since": self.connected_since,
            "last_error": self._last_error,
        }

    def close(self) -> None:
        """Close the transport and its jump hops; stop reconnecting."""
        with self._cond:
            if self._state is ConnectionState.CLOSED:
                return
            self._state = ConnectionState.CLOSED
            transports = [self._transport, *reversed(self._hops)]
            self._transport = None
            self._hops = []
            self._cond.notify_all()
        self._wake.set()
        for transport in transports:
            if transport is not None:
                with contextlib.suppress(Exception):
                    transport.close()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(timeout=5)

    def __enter__(self) -> SSHConnection:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SSHConnection {self.target.describe()} {self._state.value}>"

    # -- internals ------------------------------------------------------------------
    def _establish(self) -> None:
        """Open every hop and install the new transport (raises on failure)."""
        hops: list[paramiko.Transport] = []
        try:
            via = None
            for hop in (*self.target.jumps, self.target):
                via = open_hop(hop, via, timeout=self.connect_timeout_s, policy=self.host_key_policy,
                               passphrase=self._passphrase)
                hops.append(via)
        except BaseException as error:
            for transport in reversed(hops):
                with contextlib.suppress(Exception):
                    transport.close()
            with self._cond:
                self._last_error = str(error)
                if isinstance(error, HostKeyError):
                    self._fatal = error  # retrying cannot help until the user acts
            raise
        final = hops[-1]
        with self._cond:
            if self._state is ConnectionState.CLOSED:
                for transport in reversed(hops):
                    transport.close()
                raise TunnelError(f"SSH connection to {self.target.describe()} was closed while connecting")
            old = [self._transport, *self._hops[:-1]] if self._transport else []
            self._transport = final
            self._hops = hops[:-1]
            self._state = ConnectionState.CONNECTED
            self._fatal = None
            self._last_error = None
            self.connects += 1
            self.connected_since = time.time()
            self._cond.notify_all()
        for transport in old:
            with contextlib.suppress(Exception):
                transport.close()
        logger.info("SSH connected to %s (connect #%d)", self.target.describe(), self.connects)
        for callback in list(self._listeners):
            try:
                callback(self)
            except Exception:  # a listener must not break the connection
                logger.exception("SSH connection listener failed")

    def _drop(self, transport: paramiko.Transport, reason: str) -> None:
        with self._cond:
            if self._transport is not transport or self._state is ConnectionState.CLOSED:
                return
            self._last_error = reason
        logger.warning("SSH connection to %s dropped: %s", self.target.alias, reason)
        with contextlib.suppress(Exception):
            transport.close()
        self._wake.set()

    def _probe(self, transport: paramiko.Transport) -> bool:
        """Send keepalive@openssh.com and wait for any answer (the server replies 'failure')."""
        done = threading.Event()

        def ask() -> None:
            with contextlib.suppress(Exception):
                transport.global_request("keepalive@openssh.com", wait=True)
            done.set()

        threading.Thread(target=ask, name="qcos-ssh-keepalive", daemon=True).start()
        return done.wait(self.keepalive_s * self.keepalive_count_max) and transport.is_active()

    def _monitor_loop(self) -> None:
        """Probe a live transport; re-establish a dead one with backoff; stop when closed."""
        attempt = 0
        next_probe = time.monotonic() + self.keepalive_s
        while True:
            with self._cond:
                if self._state is ConnectionState.CLOSED:
                    return
                transport = self._transport
            if transport is not None and transport.is_active():
                attempt = 0
                next_probe = self._keep_alive(transport, next_probe)
                continue
            if not self.reconnect_enabled:
                self._mark_down()
                return
            if not self._note_lost(transport, attempt):
                return
            delay = RECONNECT_BACKOFF_S[min(attempt, len(RECONNECT_BACKOFF_S) - 1)]
            if delay and self._wake_wait(delay):
                continue
            attempt += 1
            if self._try_reconnect(attempt):
                next_probe = time.monotonic() + self.keepalive_s

    def _keep_alive(self, transport: paramiko.Transport, next_probe: float) -> float:
        """Probe ``transport`` when due (dropping it when silent), then wait a moment; the next due time."""
        if time.monotonic() >= next_probe:
            if not self._probe(transport):
                silence = self.keepalive_s * self.keepalive_count_max
                self._drop(transport, f"no keepalive answer for {silence:.0f} s")
                return next_probe
            next_probe = time.monotonic() + self.keepalive_s
        self._wake.wait(min(0.5, self.keepalive_s))
        self._wake.clear()
        return next_probe

    def _mark_down(self) -> None:
        with self._cond:
            if self._state is not ConnectionState.CLOSED:
                self._state = ConnectionState.DOWN
                self._cond.notify_all()

    def _note_lost(self, transport: paramiko.Transport | None, attempt: int) -> bool:
        """Record a lost transport (state, last error, one warning); False when the connection is closed."""
        with self._cond:
            if self._state is ConnectionState.CLOSED:
                return False
            self._state = ConnectionState.RECONNECTING if attempt < 3 else ConnectionState.DOWN
            if transport is not None and attempt == 0:
                saved = getattr(transport, "saved_exception", None)
                cause = type(saved).__name__ if saved else "connection lost"
                detail = f": {saved}" if str(saved or "") else ""
                self._last_error = self._last_error or f"transport closed ({cause}{detail})"
                logger.warning("SSH connection to %s lost (%s); reconnecting", self.target.describe(),
                               self._last_error)
            self._cond.notify_all()
        return True

    def _try_reconnect(self, attempt: int) -> bool:
        """One reconnect attempt; True when it worked (a failure is logged, never raised)."""
        try:
            logger.info("reconnecting to %s (attempt %d)", self.target.describe(), attempt)
            self._establish()
            return True
        except TunnelError as error:
            logger.warning("reconnect to %s failed: %s", self.target.alias, error)
        except Exception as error:  # never let the monitor die
            logger.exception("reconnect to %s failed unexpectedly", self.target.alias)
            with self._cond:
                self._last_error = str(error)
        return False

    def _wake_wait(self, delay: float) -> bool:
        """Sleep ``delay`` s; True when the connection was closed meanwhile."""
        end = time.monotonic() + delay
        while self._state is not ConnectionState.CLOSED and time.monotonic() < end:
            time.sleep(0.05)
        return self._state is ConnectionState.CLOSED
