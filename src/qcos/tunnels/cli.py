"""``qcos tunnel`` and the SSH options every SSH-using command shares (heavy imports stay in handlers)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qcos.tunnels.settings import SSHSettings

logger = logging.getLogger(__name__)


def add_ssh_options(parser: argparse.ArgumentParser) -> None:
    """Add the SSH connection options (``--ssh-config``, ``--identity``, ...) to ``parser``."""
    group = parser.add_argument_group("ssh connection (defaults come from ~/.ssh/config)")
    group.add_argument("--ssh-config", metavar="PATH", default=None, help="ssh config file (default ~/.ssh/config)")
    group.add_argument("--known-hosts", metavar="PATH", default=None,
                       help="known_hosts file (default: UserKnownHostsFile, else ~/.ssh/known_hosts)")
    group.add_argument("--identity", "-i", metavar="PATH", default=None, help="private key file to log in with")
    group.add_argument("--ssh-port", type=int, default=None, help="SSH port of HOST (default: config, else 22)")
    group.add_argument("--user", "-l", default=None, help="remote user (default: config, else your user name)")
    group.add_argument("--accept-new-host-key", action="store_true",
                       help="record an unknown host key in known_hosts (a changed key is still refused)")


#: The command-line flag of each SSHSettings field the CLI sets (for error messages).
_FLAGS = {"ssh_config": "--ssh-config", "known_hosts": "--known-hosts", "identity": "--identity",
          "port": "--ssh-port", "user": "--user"}


def ssh_settings(args: argparse.Namespace) -> SSHSettings:
    """The :class:`SSHSettings` of the options ``add_ssh_options`` added (ConfigError naming a bad flag)."""
    from qcos.exceptions import ConfigError
    from qcos.tunnels.settings import SSHSettings

    try:
        return SSHSettings(
            ssh_config=args.ssh_config,
            known_hosts=args.known_hosts,
            identity=args.identity,
            port=args.ssh_port,
            user=args.user,
            host_key_policy="accept-new" if args.accept_new_host_key else None,
        )
    except ValueError as error:
        name, _, rest = str(error).partition(" ")
        raise ConfigError(f"{_FLAGS.get(name, name)} {rest.replace(' or None', '')}") from error


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
    add_ssh_options(parser)
    parser.set_defaults(func=_cmd_tunnel)


def _cmd_tunnel(args: argparse.Namespace) -> int:
    from qcos.tunnels.manager import SSHTunnel

    tunnel = SSHTunnel(
        args.host, args.remote_port, remote_host=args.remote_host, local_port=args.local_port,
        settings=ssh_settings(args),
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
