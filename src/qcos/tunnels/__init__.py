"""The SSH transport (connections, local forwards, host keys, ssh config) on paramiko, imported lazily."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ConnectionState",
    "LocalForwarder",
    "SSHConnection",
    "SSHSettings",
    "SSHTarget",
    "SSHTunnel",
    "acquire_tunnel",
    "close_all_tunnels",
    "release_tunnel",
    "resolve_target",
]

_LAZY = {
    "ConnectionState": "qcos.tunnels.connection",
    "SSHConnection": "qcos.tunnels.connection",
    "LocalForwarder": "qcos.tunnels.forward",
    "SSHTunnel": "qcos.tunnels.manager",
    "acquire_tunnel": "qcos.tunnels.manager",
    "release_tunnel": "qcos.tunnels.manager",
    "close_all_tunnels": "qcos.tunnels.manager",
    "SSHSettings": "qcos.tunnels.settings",
    "SSHTarget": "qcos.tunnels.sshconfig",
    "resolve_target": "qcos.tunnels.sshconfig",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'qcos.tunnels' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
