"""``qcos tunnel`` and ``qcos bridge deploy|status|stop``: argparse wiring (heavy imports stay in handlers)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from typing import Any

logger = logging.getLogger(__name__)


def _add_ssh_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ssh connection (defaults come from ~/.ssh/config)")
    group.add_argument("--ssh-config", metavar="PATH", default=None, help="ssh config file (default ~/.ssh/config)")
    group.add_argument("--known-hosts", metavar="PATH", default=None,
                       help="known_hosts file (default: UserKnownHostsFile, else ~/.ssh/known_hosts)")
    group.add_argument("--identity", "-i", metavar="PATH", default=None, help="private key file to log in with")
    group.add_argument("--ssh-port", type=int, default=None, help="SSH port of HOST (default: config, else 22)")
    group.add_argument("--user", "-l", default=None, help="remote user (default: config, else your user name)")
    group.add_argument("--accept-new-host-key", action="store_true",
                       help="record an unknown host key in known_hosts (a changed key is still refused)")


def _connection_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "ssh_config": args.ssh_config,
        "known_hosts": args.known_hosts,
        "identity": args.identity,
        "port": args.ssh_port,
        "user": args.user,
        "host_key_policy": "accept-new" if args.accept_new_host_key else None,
    }


def add_tunnel_command(subparsers: Any) -> None:
    """Add ``qcos tunnel HOST --remote-port N [--local-port M]``."""
    parser = subparsers.add_parser(
        "tunnel",
        help="forward a local port to a port on HOST over SSH (like ssh -N -L), until Ctrl-C",
        description="Open an SSH tunnel 127.0.0.1:LOCAL -> HOST -> REMOTE_HOST:REMOTE_PORT; "
        "it reconnects by itself when the connection drops. Ctrl-C closes it.",
    )
    parser.add_argument("host", help="ssh config alias or [user@]host[:port]")
    parser.add_argument("--remote-port", type=int, required=True, help="port on the remote side, e.g. 8888")
    parser.add_argument("--remote-host", default="localhost",
                        help="host to reach from HOST (default: localhost, i.e. HOST itself)")
    parser.add_argument("--local-port", type=int, default=0, help="local port (default: any free port)")
    parser.add_argument("--duration", type=float, default=None, help=argparse.SUPPRESS)
    _add_ssh_options(parser)
    parser.set_defaults(func=_cmd_tunnel)


def add_bridge_commands(subparsers: Any) -> None:
    """Add ``deploy``, ``status`` and ``stop`` to the ``qcos bridge`` group."""
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
    _add_ssh_options(parser)


def _read_key_file(path: str) -> str:
    from pathlib import Path

    from qcos.exceptions import ConfigError

    try:
        lines = Path(path).expanduser().read_text(encoding="utf-8").strip().splitlines()
    except OSError as error:
        raise ConfigError(f"--api-key-file {path}: cannot read it ({error.strerror or error})") from error
    if not lines or not lines[0].strip():
        raise ConfigError(f"--api-key-file {path} is empty; put the key on its first line")
    return lines[0].strip()


def _cmd_tunnel(args: argparse.Namespace) -> int:
    from qcos.tunnels.manager import SSHTunnel

    tunnel = SSHTunnel(
        args.host, args.remote_port, remote_host=args.remote_host, local_port=args.local_port,
        **_connection_kwargs(args),
    )
    stop = {"now": False}

    def on_term(signum: int, frame: object) -> None:
        stop["now"] = True

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        with tunnel:
            print(f"{tunnel.local_url} -> {args.host} -> {args.remote_host}:{args.remote_port} "
                  f"(Ctrl-C to close)", flush=True)
            state = tunnel.state
            end = None if args.duration is None else time.monotonic() + args.duration
            try:
                while not stop["now"] and (end is None or time.monotonic() < end):
                    time.sleep(0.5)
                    if tunnel.state != state:
                        state = tunnel.state
                        print(f"tunnel {state}" + (f" ({tunnel.connection.last_error})"
                                                   if state != "connected" and tunnel.connection.last_error else ""),
                              file=sys.stderr, flush=True)
            except KeyboardInterrupt:
                pass
        print("tunnel closed", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _deployment(args: argparse.Namespace, python: str = "python3") -> Any:
    from qcos.tunnels.connection import SSHConnection
    from qcos.tunnels.deploy import BridgeDeployment

    connection = SSHConnection(args.host, reconnect=False, **_connection_kwargs(args)).connect()
    return BridgeDeployment(connection, remote_dir=args.remote_dir, port=args.port, python=python)


def _cmd_deploy(args: argparse.Namespace) -> int:
    api_key = _read_key_file(args.api_key_file) if args.api_key_file else None
    deployment = _deployment(args, args.python)
    try:
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
    finally:
        deployment.connection.close()
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    deployment = _deployment(args)
    try:
        report = deployment.status()
    finally:
        deployment.connection.close()
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
    deployment = _deployment(args)
    try:
        stopped = deployment.stop()
    finally:
        deployment.connection.close()
    print(f"bridge on {args.host} port {args.port}: " + ("stopped" if stopped else "was not running"))
    return 0
