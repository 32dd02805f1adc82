"""Reach one SSH hop: open its socket, check its host key and log in with a public key."""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from qcos.exceptions import TunnelError
from qcos.tunnels.hostkeys import known_key_types, verify_host_key
from qcos.tunnels.sshconfig import DEFAULT_IDENTITIES, SSHTarget

if TYPE_CHECKING:
    import paramiko

logger = logging.getLogger(__name__)


def open_hop(
    hop: SSHTarget, via: paramiko.Transport | None, *, timeout: float, policy: str, passphrase: str | None
) -> paramiko.Transport:
    """A logged-in transport to ``hop``, directly or through ``via`` (the previous jump host).

    The host key is checked against ``hop``'s known_hosts under ``policy``; any failure
    closes what was opened and raises :class:`TunnelError` (:class:`HostKeyError` for keys).
    """
    import paramiko

    transport = paramiko.Transport(_hop_socket(hop, via, timeout))
    try:
        _prefer_known_key_types(transport, hop)
        try:
            transport.start_client(timeout=timeout)
        except (paramiko.SSHException, EOFError, OSError) as error:
            raise TunnelError(f"SSH handshake with {hop.hostname}:{hop.port} failed: {error}") from error
        verify_host_key(
            transport.get_remote_server_key(),
            name=hop.known_hosts_name,
            hostname=hop.hostname,
            port=hop.port,
            known_hosts=hop.known_hosts,
            policy=policy,
        )
        authenticate(transport, hop, passphrase)
    except BaseException:
        transport.close()
        raise
    return transport


def _hop_socket(hop: SSHTarget, via: paramiko.Transport | None, timeout: float) -> Any:
    """A TCP socket to ``hop``, or a direct-tcpip channel to it through ``via``."""
    import paramiko

    try:
        if via is None:
            sock = socket.create_connection((hop.hostname, hop.port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        return via.open_channel("direct-tcpip", (hop.hostname, hop.port), ("127.0.0.1", 0), timeout=timeout)
    except (OSError, paramiko.SSHException) as error:
        where = "" if via is None else " through the jump host"
        raise TunnelError(f"cannot reach {hop.hostname}:{hop.port}{where}: {error}") from error


def _prefer_known_key_types(transport: paramiko.Transport, hop: SSHTarget) -> None:
    """Ask first for the host key types known_hosts has for ``hop`` (so the known key is offered)."""
    known_types = known_key_types(hop.known_hosts_name, hop.known_hosts)
    if known_types:
        options = transport.get_security_options()
        available = list(options.key_types)
        preferred = [t for t in known_types if t in available]
        options.key_types = preferred + [t for t in available if t not in preferred]


def _load_key(path: str, passphrase: str | None) -> paramiko.PKey | None:
    import paramiko

    try:
        # cryptography wants the password as bytes (the paramiko stubs say str)
        password: Any = passphrase.encode() if passphrase else None
        return paramiko.PKey.from_path(path, password)
    except paramiko.PasswordRequiredException:
        logger.warning("identity %s is passphrase-protected; load it into ssh-agent (ssh-add %s)", path, path)
    except (OSError, paramiko.SSHException, ValueError) as error:
        logger.warning("cannot load identity %s: %s", path, error)
    return None


def _candidate_keys(target: SSHTarget, passphrase: str | None) -> list[tuple[str, paramiko.PKey]]:
    """Identity files first (the caller's or the config's), then ssh-agent, then ~/.ssh/id_*."""
    import paramiko

    keys: list[tuple[str, paramiko.PKey]] = []
    for path in target.identity_files:
        if not os.path.isfile(path):
            logger.warning("identity file %s does not exist", path)
            continue
        key = _load_key(path, passphrase)
        if key is not None:
            keys.append((path, key))
    if target.use_agent and os.environ.get("SSH_AUTH_SOCK"):
        try:
            agent = paramiko.Agent()
            keys.extend((f"agent:{key.comment or key.get_name()}", key) for key in agent.get_keys())
        except paramiko.SSHException as error:
            logger.debug("ssh-agent unavailable: %s", error)
    if not target.identity_files:
        for default in DEFAULT_IDENTITIES:
            path = os.path.expanduser(default)
            if os.path.isfile(path):
                key = _load_key(path, passphrase)
                if key is not None:
                    keys.append((path, key))
    return keys


def authenticate(transport: paramiko.Transport, target: SSHTarget, passphrase: str | None) -> None:
    """Log in to ``target`` over ``transport`` with the first key it accepts (TunnelError when none)."""
    import paramiko

    candidates = _candidate_keys(target, passphrase)
    if not candidates:
        raise TunnelError(
            f"no SSH key to log in to {target.describe()}: pass identity=PATH (CLI: --identity), "
            f"set IdentityFile in the ssh config, or load a key into ssh-agent"
        )
    tried = []
    for label, key in candidates:
        try:
            remaining = transport.auth_publickey(target.user, key)
        except paramiko.AuthenticationException:
            tried.append(label)
            continue
        except paramiko.SSHException as error:
            raise TunnelError(f"authentication with {target.describe()} failed: {error}") from error
        if not remaining:
            logger.debug("authenticated to %s with %s", target.describe(), label)
            return
        raise TunnelError(
            f"{target.describe()} wants more authentication ({', '.join(remaining)}) after the "
            f"key {label}; qcos supports public-key login only"
        )
    raise TunnelError(
        f"{target.describe()} refused every key ({', '.join(tried)}): add the public key to "
        f"~/.ssh/authorized_keys of {target.user} there, or choose the key with identity=PATH"
    )
