"""Run the bridge: bind the port, start warm workers, then serve with uvicorn until stopped."""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any

from qcos.bridge.settings import BridgeSettings
from qcos.exceptions import BridgeError

if TYPE_CHECKING:
    from qcos.bridge.workers import BridgePool

logger = logging.getLogger(__name__)


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind first so that a taken port fails fast, before workers spend seconds starting."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets of such a
    # listener; without it every keep-alive response waits ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise BridgeError(
            f"cannot listen on {host}:{port}: {error.strerror or error}; choose another --port or stop what uses it"
        ) from error
    sock.set_inheritable(True)
    return sock


def make_pool(settings: BridgeSettings) -> BridgePool:
    """The bridge's workers: the shared runtime of :mod:`qcos.workers` with the bridge's limits."""
    from qcos.bridge.workers import BridgePool
    from qcos.workers import WorkerConfig

    base: dict[str, Any] = {"device": settings.device, "method": settings.method}
    if settings.device == "CPU":
        base["max_parallel_threads"] = settings.aer_threads
    config = WorkerConfig(base_options=base, memory_mb=settings.memory_limit_mb, max_qubits=settings.max_qubits,
                          label="bridge")
    return BridgePool(config, settings.workers, timeout_s=settings.timeout_s, max_queue=settings.max_queue)


def serve(settings: BridgeSettings, *, log_level: str = "info", access_log: bool = True) -> None:
    """Serve until SIGINT/SIGTERM; the workers are stopped on the way out."""
    import uvicorn

    from qcos.bridge.app import create_app
    from qcos.bridge.protocol import guarded_protocol

    sock = bind_socket(settings.host, settings.port)
    pool = make_pool(settings)
    try:
        logger.info("starting %d bridge worker(s) ...", settings.workers)
        pool.start()
        app = create_app(settings, pool)
        config = uvicorn.Config(
            app,
            log_level=log_level,
            access_log=access_log,  # uvicorn logs method, path and status: never headers
            http=guarded_protocol(header_timeout_s=settings.header_timeout_s, body_timeout_s=settings.body_timeout_s,
                                  max_connections=settings.max_connections),
            timeout_keep_alive=30,
            timeout_graceful_shutdown=5,
            server_header=False,
        )
        server = uvicorn.Server(config)
        print(
            f"qcos bridge listening on http://{settings.host}:{sock.getsockname()[1]} "
            f"({settings.workers} {settings.device} worker(s); API key "
            f"{'required' if settings.api_key else 'NOT SET: anyone who reaches this port can run circuits'})",
            flush=True,
        )
        server.run(sockets=[sock])
    finally:
        pool.close()
        sock.close()
