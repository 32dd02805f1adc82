"""``qcos bridge serve|deploy|status|stop``: the bridge's command line (imports nothing heavy)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from qcos.tunnels.cli import add_ssh_options, ssh_settings

if TYPE_CHECKING:
    from qcos.bridge.deploy import BridgeDeployment
    from qcos.bridge.settings import BridgeSettings

logger = logging.getLogger(__name__)


def add_bridge_commands(subparsers: Any) -> None:
    """Add ``serve``, ``deploy``, ``status`` and ``stop`` to the ``qcos bridge`` group."""
    _add_serve_command(subparsers)
    _add_deploy_commands(subparsers)


def _add_serve_command(subparsers: Any) -> None:
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


def settings_from_args(args: argparse.Namespace) -> BridgeSettings:
    """Build BridgeSettings from parsed ``serve`` arguments (key from file or environment)."""
    from dataclasses import fields

    from qcos.bridge.settings import BridgeSettings, load_api_key
    from qcos.exceptions import ConfigError

    if not args.max_body_mb > 0:
        raise ConfigError(f"--max-body-mb must be > 0, got {args.max_body_mb}")
    # every other option is named like the setting it sets
    values = {f.name: getattr(args, f.name) for f in fields(BridgeSettings) if hasattr(args, f.name)}
    values.update(max_body_bytes=max(1, int(args.max_body_mb * 2**20)), api_key=load_api_key(args.api_key_file))
    return BridgeSettings(**values)


def _cmd_serve(args: argparse.Namespace) -> int:
    from qcos.bridge.server import serve

    settings = settings_from_args(args)
    verbosity = getattr(args, "verbose", 0)
    logging.getLogger("qcos").setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
    serve(settings, log_level="debug" if verbosity >= 2 else "info", access_log=not args.no_access_log)
    return 0


def _add_deploy_commands(subparsers: Any) -> None:
    """Add ``deploy``, ``status`` and ``stop`` (a bridge on a remote host, over SSH)."""
    deploy = subparsers.add_parser(
        "deploy",
        help="upload qcos to HOST over SSH and start `qcos bridge serve` there, detached",
        description="Copy the local qcos source into REMOTE_DIR/src over SFTP, check that --python "
        "has the bridge's dependencies, start the bridge on 127.0.0.1:PORT with setsid/nohup "
        "(log and pid files in REMOTE_DIR) and wait for /health through an SSH tunnel.",
    )
    _add_bridge_location(deploy)
    deploy.add_argument("--python", default="python3",
                        help="remote python with qcos's dependencies, e.g. /flash/project_x/venv/bin/python")
    deploy.add_argument("--device", choices=("CPU", "GPU"), type=str.upper, default=None,
                        help="Aer device for the bridge (default: the bridge's default)")
    deploy.add_argument("--api-key-file", metavar="PATH", default=None,
                        help="local file whose first line is the API key; sent over SSH stdin into a "
                        "0600 file next to the bridge (never on a command line)")
    deploy.add_argument("--no-upload", action="store_true",
                        help="use the qcos installed in --python instead of uploading the local source")
    deploy.add_argument("--wait", type=float, default=180.0, help="seconds to wait for /health (default 180)")
    deploy.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for `qcos bridge serve` (repeatable), e.g. --serve-arg=--workers=4")
    deploy.set_defaults(func=_cmd_deploy)

    status = subparsers.add_parser("status", help="is the deployed bridge on HOST running and healthy?")
    _add_bridge_location(status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(func=_cmd_status)

    stop = subparsers.add_parser("stop", help="stop the bridge deployed on HOST (by its pid file)")
    _add_bridge_location(stop)
    stop.set_defaults(func=_cmd_stop)


def _add_bridge_location(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("host", help="ssh config alias or [user@]host[:port]")
    parser.add_argument("--remote-dir", default="qcos-bridge",
                        help="remote directory for source, log, pid and key files (default ~/qcos-bridge)")
    parser.add_argument("--port", type=int, default=8888, help="bridge port on the remote host (default 8888)")
    add_ssh_options(parser)


@contextlib.contextmanager
def _deployment(args: argparse.Namespace, python: str = "python3") -> Iterator[BridgeDeployment]:
    """The bridge on ``args.host`` over a fresh SSH connection, closed on leaving the block."""
    from qcos.bridge.deploy import BridgeDeployment
    from qcos.tunnels.connection import SSHConnection

    connection = SSHConnection(args.host, ssh_settings(args), reconnect=False).connect()
    try:
        yield BridgeDeployment(connection, remote_dir=args.remote_dir, port=args.port, python=python)
    finally:
        connection.close()


def _cmd_deploy(args: argparse.Namespace) -> int:
    from qcos.bridge.settings import load_api_key

    api_key = load_api_key(args.api_key_file) if args.api_key_file else None
    with _deployment(args, args.python) as deployment:
        if api_key is None:
            print("warning: no --api-key-file: any user on the remote host can use this bridge",
                  file=sys.stderr)
        pid = deployment.start(api_key=api_key, device=args.device, upload=not args.no_upload,
                               extra_args=args.serve_arg)
        print(f"bridge started on {args.host}:127.0.0.1:{args.port} (pid {pid}), waiting for /health ...",
              flush=True)
        health = deployment.wait_healthy(pid, timeout=args.wait, api_key=api_key)
        print(f"bridge healthy: {json.dumps(health, sort_keys=True)}")
        print(f"  log: {deployment.log_path}\n  pid file: {deployment.pid_path}")
        print(f"  use it: qcos tunnel {args.host} --remote-port {args.port}   or the ssh_bridge provider "
              f"(host={args.host!r}, remote_port={args.port})")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    with _deployment(args) as deployment:
        report = deployment.status()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        state = "healthy" if report.healthy else ("running, not healthy" if report.running else "not running")
        pid = "-" if report.pid is None else report.pid
        print(f"bridge on {args.host} port {args.port}: {state} (pid {pid}) — {report.detail}")
        if report.health:
            print(f"  health: {json.dumps(report.health, sort_keys=True)}")
        print(f"  log: {report.log_path}")
    return 0 if report.healthy else 1


def _cmd_stop(args: argparse.Namespace) -> int:
    with _deployment(args) as deployment:
        stopped = deployment.stop()
    print(f"bridge on {args.host} port {args.port}: " + ("stopped" if stopped else "was not running"))
    return 0
