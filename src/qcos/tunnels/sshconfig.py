"""Resolve an SSH host alias into connection settings, the way ``ssh`` reads ``~/.ssh/config``."""

from __future__ import annotations

import getpass
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qcos.exceptions import TunnelError

if TYPE_CHECKING:
    import paramiko

logger = logging.getLogger(__name__)

DEFAULT_SSH_CONFIG = "~/.ssh/config"
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
#: Keys ``ssh`` tries when neither the config nor the caller names one.
DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
#: The most ProxyJump hops followed (a loop in the config would otherwise never end).
MAX_JUMPS = 8


@dataclass(frozen=True)
class SSHTarget:
    """Everything needed to reach one SSH server (one hop)."""

    alias: str
    hostname: str
    port: int = 22
    user: str = field(default_factory=getpass.getuser)
    identity_files: tuple[str, ...] = ()
    #: The hops to go through first, outermost first (``ProxyJump a,b`` -> (a, b)).
    jumps: tuple[SSHTarget, ...] = ()
    known_hosts: tuple[str, ...] = ()
    #: ``StrictHostKeyChecking`` from the config, if set (``yes``/``accept-new``/...).
    strict_host_key_checking: str | None = None
    keepalive_s: float | None = None
    keepalive_count_max: int | None = None
    connect_timeout_s: float | None = None
    use_agent: bool = True

    @property
    def known_hosts_name(self) -> str:
        """The name known_hosts files use: ``host`` on port 22, ``[host]:port`` otherwise."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"

    def describe(self) -> str:
        """``user@host:port`` plus the jump chain, for messages."""
        via = "".join(f" via {jump.user}@{jump.hostname}:{jump.port}" for jump in self.jumps)
        return f"{self.user}@{self.hostname}:{self.port}{via}"


def _split_user_host_port(spec: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` (or ``ssh://user@host:port``) -> parts."""
    text = spec.strip()
    if text.startswith("ssh://"):
        text = text[len("ssh://") :]
    user = None
    if "@" in text:
        user, _, text = text.rpartition("@")
    port = None
    if text.startswith("["):  # [ipv6]:port
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        try:
            port = int(port_text)
        except ValueError as error:
            raise TunnelError(f"bad port in SSH host spec {spec!r}: {port_text!r}") from error
    else:
        host = text
    if not host:
        raise TunnelError(f"empty host name in SSH host spec {spec!r}")
    return user, host, port


def load_ssh_config(path: str | os.PathLike[str] | None = None) -> paramiko.SSHConfig | None:
    """Parse an ssh_config file (``~/.ssh/config`` by default); ``None`` when it is absent."""
    import paramiko

    config_path = Path(os.path.expanduser(os.fspath(path or DEFAULT_SSH_CONFIG)))
    if not config_path.exists() or config_path.is_dir():
        if path is not None:
            raise TunnelError(f"ssh config file {config_path} does not exist; fix the ssh_config path")
        return None
    try:
        return paramiko.SSHConfig.from_path(str(config_path))
    except Exception as error:  # paramiko raises assorted errors on bad syntax
        raise TunnelError(f"cannot parse ssh config {config_path}: {error}") from error


def resolve_target(
    host: str,
    *,
    ssh_config: str | os.PathLike[str] | None = None,
    user: str | None = None,
    port: int | None = None,
    identity: str | os.PathLike[str] | list[str] | tuple[str, ...] | None = None,
    known_hosts: str | os.PathLike[str] | None = None,
    _depth: int = 0,
) -> SSHTarget:
    """Turn ``host`` (an alias, ``user@host:port`` or a name) into an :class:`SSHTarget`.

    Settings come from the ssh config (HostName, User, Port, IdentityFile, ProxyJump,
    UserKnownHostsFile, StrictHostKeyChecking, ServerAliveInterval/CountMax,
    ConnectTimeout, IdentitiesOnly); explicit arguments win over the config, and the
    config wins over ``user@host:port`` defaults, like OpenSSH does for ``-l``/``-p``.
    """
    if _depth > MAX_JUMPS:
        raise TunnelError(f"ProxyJump chain for {host!r} is longer than {MAX_JUMPS} hops (a loop?)")
    spec_user, alias, spec_port = _split_user_host_port(host)
    config = load_ssh_config(ssh_config)
    # Any: paramiko's values are strings, except lists for multi-valued keys such as identityfile
    entry: dict[str, Any] = dict(config.lookup(alias)) if config is not None else {}
    jumps = _jumps(entry, ssh_config=ssh_config, known_hosts=known_hosts, depth=_depth)
    if entry.get("proxycommand"):
        logger.warning("ProxyCommand for %s is ignored by qcos; use ProxyJump instead", alias)
    count_max = _number(entry, alias, "serveralivecountmax")
    strict = entry.get("stricthostkeychecking")
    return SSHTarget(
        alias=alias,
        hostname=str(entry.get("hostname") or alias),
        port=int(port or spec_port or int(str(entry.get("port") or 22))),
        user=user or spec_user or str(entry.get("user") or getpass.getuser()),
        identity_files=_identities(identity, entry),
        jumps=jumps,
        known_hosts=_known_hosts(known_hosts, entry),
        strict_host_key_checking=str(strict).lower() if strict else None,
        keepalive_s=_number(entry, alias, "serveraliveinterval"),
        keepalive_count_max=int(count_max) if count_max is not None else None,
        connect_timeout_s=_number(entry, alias, "connecttimeout"),
        use_agent=str(entry.get("identitiesonly", "no")).lower() != "yes",
    )


def _identities(
    identity: str | os.PathLike[str] | list[str] | tuple[str, ...] | None, entry: dict[str, Any]
) -> tuple[str, ...]:
    """The caller's identity file(s), else the config's IdentityFile entries (``~`` expanded)."""
    if identity is None:
        paths: tuple[str, ...] = tuple(str(p) for p in entry.get("identityfile", []) or [])
    elif isinstance(identity, list | tuple):
        paths = tuple(os.fspath(p) for p in identity)
    else:
        paths = (os.fspath(identity),)
    return tuple(os.path.expanduser(p) for p in paths)


def _known_hosts(known_hosts: str | os.PathLike[str] | None, entry: dict[str, Any]) -> tuple[str, ...]:
    """The caller's known_hosts file, else the config's UserKnownHostsFile(s), else ~/.ssh/known_hosts."""
    if known_hosts is not None:
        return (os.path.expanduser(os.fspath(known_hosts)),)
    configured = str(entry.get("userknownhostsfile") or "").split()
    return tuple(os.path.expanduser(p) for p in configured) or (os.path.expanduser(DEFAULT_KNOWN_HOSTS),)


def _jumps(
    entry: dict[str, Any],
    *,
    ssh_config: str | os.PathLike[str] | None,
    known_hosts: str | os.PathLike[str] | None,
    depth: int,
) -> tuple[SSHTarget, ...]:
    """The ProxyJump hops, outermost first (a hop's own jumps come before it)."""
    proxy_jump = str(entry.get("proxyjump") or "").strip()
    if not proxy_jump or proxy_jump.lower() == "none":
        return ()
    hops: list[SSHTarget] = []
    for hop in proxy_jump.split(","):
        # A jump host is resolved through the same config (it may be an alias) but
        # keeps its own user/port/keys; only the known_hosts override is shared.
        resolved = resolve_target(hop, ssh_config=ssh_config, known_hosts=known_hosts, _depth=depth + 1)
        hops.extend(resolved.jumps)
        hops.append(_without_jumps(resolved))
    return tuple(hops)


def _number(entry: dict[str, Any], alias: str, key: str) -> float | None:
    value = entry.get(key)
    try:
        return float(str(value)) if value is not None else None
    except ValueError as error:
        raise TunnelError(f"ssh config: {key} for {alias!r} must be a number, got {value!r}") from error


def _without_jumps(target: SSHTarget) -> SSHTarget:
    from dataclasses import replace

    return replace(target, jumps=())
