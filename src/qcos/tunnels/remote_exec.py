"""Run one command on an SSH server over a session channel: exit code, stdout and stderr, with a deadline."""

from __future__ import annotations

import logging
import select
import time
from typing import TYPE_CHECKING

from qcos.exceptions import TunnelError

if TYPE_CHECKING:
    import paramiko

logger = logging.getLogger(__name__)


def run_command(
    channel: paramiko.Channel, command: str, *, stdin: bytes | None, timeout: float, where: str
) -> tuple[int, str, str]:
    """Run ``command`` on ``channel`` (closed afterwards); (exit code, stdout, stderr).

    ``stdin`` is written to the command's standard input and then closed. A command that
    outlives ``timeout`` s, or a connection that drops under it, raises TunnelError naming ``where``.
    """
    out: list[bytes] = []
    err: list[bytes] = []
    try:
        channel.exec_command(command)
        if stdin is not None:
            channel.sendall(stdin)
        channel.shutdown_write()
        deadline = time.monotonic() + timeout
        while True:
            while channel.recv_ready():
                out.append(channel.recv(65536))
            while channel.recv_stderr_ready():
                err.append(channel.recv_stderr(65536))
            drained = not channel.recv_ready() and not channel.recv_stderr_ready()
            if channel.exit_status_ready() and drained and (channel.eof_received or channel.closed):
                break
            if time.monotonic() > deadline:
                raise TunnelError(f"remote command on {where} took over {timeout:.0f} s: {command}")
            if channel.closed and not channel.exit_status_ready():
                raise TunnelError(f"SSH connection dropped while running a command on {where}")
            select.select([channel], [], [], 0.1)
        status = channel.recv_exit_status()
    finally:
        channel.close()
    return status, b"".join(out).decode(errors="replace"), b"".join(err).decode(errors="replace")
