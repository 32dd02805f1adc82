"""How to log in to an SSH host: one dataclass, the single list of the SSH options every caller takes."""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, fields
from typing import Any

from qcos.checks import require_int

logger = logging.getLogger(__name__)

def _positive(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds or None (the ssh config's), got {value!r}")
    return float(value)


def _path(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike):
        raise ValueError(f"{name} must be a file path, got {value!r}")
    return os.fspath(value)


@dataclass(frozen=True)
class SSHSettings:
    """The SSH options of a connection; None takes ``~/.ssh/config``'s value, then ssh's default.

    ``ssh_config``: the ssh config file (default ``~/.ssh/config``); ``known_hosts``: the
    known_hosts file (default the config's UserKnownHostsFile, else ``~/.ssh/known_hosts``);
    ``identity``: private key file(s) to log in with; ``port`` and ``user`` override the
    config and ``user@host:port``; ``host_key_policy``: ``strict`` (default) or
    ``accept-new``; ``connect_timeout_s``, ``keepalive_s`` and ``keepalive_count_max``:
    ConnectTimeout, ServerAliveInterval and ServerAliveCountMax. Invalid values raise
    ValueError (an unknown host key policy: HostKeyError) naming the option.
    """

    ssh_config: str | None = None
    known_hosts: str | None = None
    identity: str | tuple[str, ...] | None = None
    port: int | None = None
    user: str | None = None
    host_key_policy: str | None = None
    connect_timeout_s: float | None = None
    keepalive_s: float | None = None
    keepalive_count_max: int | None = None

    def __post_init__(self) -> None:
        from qcos.tunnels.hostkeys import parse_policy

        set_ = object.__setattr__
        set_(self, "ssh_config", _path("ssh_config", self.ssh_config))
        set_(self, "known_hosts", _path("known_hosts", self.known_hosts))
        if isinstance(self.identity, list | tuple):
            set_(self, "identity", tuple(_path("identity", p) or "" for p in self.identity))
        else:
            set_(self, "identity", _path("identity", self.identity))
        port = self.port
        if port is not None:
            require_int("port", port, maximum=65535, what="the SSH server's TCP port (1-65535) or None")
        if self.user is not None and (not isinstance(self.user, str) or not self.user.strip()):
            raise ValueError(f"user must be a remote user name or None, got {self.user!r}")
        if self.host_key_policy is not None:
            parse_policy(self.host_key_policy)
        set_(self, "connect_timeout_s", _positive("connect_timeout_s", self.connect_timeout_s))
        set_(self, "keepalive_s", _positive("keepalive_s", self.keepalive_s))
        count = self.keepalive_count_max
        if count is not None:
            require_int("keepalive_count_max", count, what="a positive integer or None")

    @classmethod
    def of(cls, settings: SSHSettings | None = None, /, **options: Any) -> SSHSettings:
        """``settings`` (or the defaults) with ``options`` (field names) changed.

        An unknown option raises TypeError listing the valid ones.
        """
        unknown = sorted(set(options) - set(SETTING_NAMES))
        if unknown:
            raise TypeError(f"unknown SSH option(s) {unknown}; valid options: {', '.join(SETTING_NAMES)}")
        return dataclasses.replace(settings or cls(), **options)

    def as_kwargs(self) -> dict[str, Any]:
        """The options that are set (not None), by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


#: The names of :class:`SSHSettings`' fields: the SSH keyword arguments of connections,
#: tunnels and the ``ssh_bridge`` provider.
SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in fields(SSHSettings))
