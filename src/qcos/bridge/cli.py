"""``qcos bridge serve``: the command-line entry of the REST bridge (imports nothing heavy)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

logger = logging.getLogger(__name__)


def add_bridge_commands(subparsers: Any) -> None:
    """Add ``serve`` to the ``qcos bridge`` group."""
    from qcos.bridge import settings as defaults

    serve = subparsers.add_parser(
        "serve",
        help="serve Aer over HTTP (POST /run-circuit, /run-batch; GET /health)",
        description=(
            "Run the qcos REST bridge: the spec's POST /run-circuit and GET /health contract, plus POST "
            "/run-batch, answered by warm Aer worker processes. The API key comes from --api-key-file or "
            f"${defaults.API_KEY_ENV}. Without one it listens only on a loopback address, unless "
            "--insecure-no-auth (dangerous: anyone who reaches the port runs circuits)."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=defaults.DEFAULT_PORT, help=f"port (default {defaults.DEFAULT_PORT})")
    serve.add_argument("--device", type=str.upper, choices=defaults.DEVICES, default="CPU", help="Aer device (default CPU)")
    serve.add_argument("--method", choices=defaults.METHODS, default="automatic",
                       help="default Aer method; requests may pick another (default automatic)")
    serve.add_argument("--max-qubits", type=int, default=defaults.DEFAULT_MAX_QUBITS,
                       help=f"widest circuit accepted (default {defaults.DEFAULT_MAX_QUBITS})")
    serve.add_argument("--workers", type=int, default=0,
                       help="warm worker processes = circuits run at once (default: cores up to 8 on CPU, 1 on GPU)")
    serve.add_argument("--max-shots", type=int, default=defaults.DEFAULT_MAX_SHOTS,
                       help=f"most shots per circuit (default {defaults.DEFAULT_MAX_SHOTS})")
    serve.add_argument("--timeout-s", type=float, default=defaults.DEFAULT_TIMEOUT_S,
                       help=f"seconds one circuit may run before 504 and a worker restart (default {defaults.DEFAULT_TIMEOUT_S:g})")
    serve.add_argument("--max-body-mb", type=float, default=defaults.DEFAULT_MAX_BODY_BYTES / 2**20,
                       help=f"largest request body in MiB (default {defaults.DEFAULT_MAX_BODY_BYTES / 2**20:g})")
    serve.add_argument("--max-batch", type=int, default=defaults.DEFAULT_MAX_BATCH,
                       help=f"most circuits per /run-batch request (default {defaults.DEFAULT_MAX_BATCH})")
    serve.add_argument("--max-queue", type=int, default=defaults.DEFAULT_MAX_QUEUE,
                       help=f"requests allowed to wait for a worker before 503 (default {defaults.DEFAULT_MAX_QUEUE})")
    serve.add_argument("--body-timeout-s", type=float, default=defaults.DEFAULT_BODY_TIMEOUT_S,
                       help=f"seconds a client may take to send its request body before 408 "
                            f"(default {defaults.DEFAULT_BODY_TIMEOUT_S:g})")
    serve.add_argument("--header-timeout-s", type=float, default=defaults.DEFAULT_HEADER_TIMEOUT_S,
                       help=f"seconds a client may take to send its request headers before the connection is "
                            f"closed (default {defaults.DEFAULT_HEADER_TIMEOUT_S:g})")
    serve.add_argument("--max-connections", type=int, default=defaults.DEFAULT_MAX_CONNECTIONS,
                       help=f"open connections at once; more are closed on arrival "
                            f"(default {defaults.DEFAULT_MAX_CONNECTIONS})")
    serve.add_argument("--insecure-no-auth", action="store_true",
                       help="DANGEROUS: allow a non-loopback --host without an API key; anyone who can reach "
                            "the port can run circuits on this machine")
    serve.add_argument("--worker-memory-mb", type=int, default=None,
                       help="address-space limit per worker in MiB, 0 for none (default: on CPU, 3 statevectors "
                            "of --max-qubits + 4096; none on GPU)")
    serve.add_argument("--api-key-file", default=None,
                       help=f"file whose first line is the API key (else ${defaults.API_KEY_ENV}; chmod 600 it)")
    serve.add_argument("--no-access-log", action="store_true", help="do not log one line per request")
    serve.set_defaults(func=_cmd_serve)


def settings_from_args(args: argparse.Namespace) -> Any:
    """Build BridgeSettings from parsed ``serve`` arguments (key from file or environment)."""
    from qcos.bridge.settings import BridgeSettings, load_api_key
    from qcos.exceptions import ConfigError

    if not args.max_body_mb > 0:
        raise ConfigError(f"--max-body-mb must be > 0, got {args.max_body_mb}")
    return BridgeSettings(
        host=args.host,
        port=args.port,
        device=args.device,
        method=args.method,
        max_qubits=args.max_qubits,
        workers=args.workers,
        max_shots=args.max_shots,
        timeout_s=args.timeout_s,
        max_body_bytes=max(1, int(args.max_body_mb * 2**20)),
        max_batch=args.max_batch,
        max_queue=args.max_queue,
        body_timeout_s=args.body_timeout_s,
        header_timeout_s=args.header_timeout_s,
        max_connections=args.max_connections,
        insecure_no_auth=args.insecure_no_auth,
        worker_memory_mb=args.worker_memory_mb,
        api_key=load_api_key(args.api_key_file),
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    from qcos.bridge.server import serve

    settings = settings_from_args(args)
    verbosity = getattr(args, "verbose", 0)
    logging.getLogger("qcos").setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
    serve(settings, log_level="debug" if verbosity >= 2 else "info", access_log=not args.no_access_log)
    return 0
