"""Verify SSH host keys against known_hosts, refusing unknown or changed keys by default."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qcos.exceptions import HostKeyError

if TYPE_CHECKING:
    import paramiko

logger = logging.getLogger(__name__)

#: ``strict``: the key must already be in known_hosts (the default).
#: ``accept-new``: record an unknown key in known_hosts, refuse a changed one.
HOST_KEY_POLICIES = ("strict", "accept-new")
_ALIASES = {"yes": "strict", "strict": "strict", "accept-new": "accept-new"}
_write_lock = threading.Lock()


def parse_policy(value: str | None, config_value: str | None = None) -> str:
    """Normalise a policy name (OpenSSH's ``yes``/``accept-new`` are accepted too).

    ``value`` (the caller's explicit choice) wins over ``config_value`` (the ssh
    config's StrictHostKeyChecking). ``no``/``off`` are not supported on purpose: an
    unverified key lets anyone in the middle read the API key and the circuits.
    """
    for candidate, origin in ((value, "host_key_policy"), (config_value, "StrictHostKeyChecking")):
        if candidate is None:
            continue
        policy = _ALIASES.get(str(candidate).strip().lower())
        if policy is not None:
            return policy
        if origin == "host_key_policy":
            raise HostKeyError(
                f"unknown host_key_policy {candidate!r}; valid policies: {', '.join(HOST_KEY_POLICIES)}"
            )
        logger.warning(
            "ignoring StrictHostKeyChecking %s from the ssh config: qcos always verifies host "
            "keys (policies: %s)", candidate, ", ".join(HOST_KEY_POLICIES),
        )
    return "strict"


def fingerprint(key: paramiko.PKey) -> str:
    """The ``SHA256:...`` fingerprint ``ssh`` prints."""
    return key.fingerprint


def _load(paths: Sequence[str]) -> paramiko.HostKeys:
    import paramiko

    keys = paramiko.HostKeys()
    for path in paths:
        if os.path.isfile(path):
            try:
                keys.load(path)
            except OSError as error:
                raise HostKeyError(f"cannot read known_hosts file {path}: {error}") from error
    return keys


def _keyscan_hint(name: str, hostname: str, port: int, path: str) -> str:
    port_flag = "" if port == 22 else f"-p {port} "
    return (
        f"check the fingerprint with the host's administrator, then add it with\n"
        f"    ssh-keyscan {port_flag}{hostname} >> {path}\n"
        f"(or connect once with `ssh` and answer yes), or pass host_key_policy='accept-new' "
        f"(CLI: --accept-new-host-key) to record it on first use"
    )


def verify_host_key(
    key: paramiko.PKey,
    *,
    name: str,
    hostname: str,
    port: int,
    known_hosts: Sequence[str],
    policy: str = "strict",
) -> None:
    """Accept ``key`` for ``name`` (``host`` or ``[host]:port``) or raise :class:`HostKeyError`.

    A key type the file has no entry for, while it has others for the host, counts as
    changed (like OpenSSH). With ``accept-new`` an unknown host is appended to the
    first known_hosts file.
    """
    policy = parse_policy(policy)
    keys = _load(known_hosts)
    entry = keys.lookup(name)
    primary = known_hosts[0] if known_hosts else os.path.expanduser("~/.ssh/known_hosts")
    offered = f"{key.get_name()} {fingerprint(key)}"
    if entry:
        known = entry.get(key.get_name())
        if known is not None and known == key:
            return
        recorded = ", ".join(f"{k.get_name()} {fingerprint(k)}" for k in entry.values())
        quoted = f"'{name}'" if name.startswith("[") else name
        raise HostKeyError(
            f"HOST KEY MISMATCH for {name}: the server offers {offered} but known_hosts "
            f"({', '.join(known_hosts)}) has {recorded}. Someone may be intercepting the "
            f"connection, or the host was reinstalled. If you are sure it is the latter, "
            f"remove the old entry with\n    ssh-keygen -R {quoted} -f {primary}\n"
            f"then {_keyscan_hint(name, hostname, port, primary)}."
        )
    if policy == "accept-new":
        _append(primary, name, key)
        logger.warning("accepted new host key for %s (%s), recorded in %s", name, offered, primary)
        return
    raise HostKeyError(
        f"unknown host key for {name} ({offered}): it is not in known_hosts "
        f"({', '.join(known_hosts) or primary}). To trust it, "
        f"{_keyscan_hint(name, hostname, port, primary)}."
    )


def _append(path: str, name: str, key: paramiko.PKey) -> None:
    target = Path(path)
    with _write_lock:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = f"{name} {key.get_name()} {key.get_base64()}\n"
        needs_newline = target.is_file() and target.stat().st_size > 0 and not target.read_bytes().endswith(b"\n")
        with open(target, "a", encoding="ascii") as handle:
            if needs_newline:
                handle.write("\n")
            handle.write(line)
        os.chmod(target, 0o600)


def known_key_types(name: str, known_hosts: Sequence[str]) -> list[str]:
    """Key types known_hosts holds for ``name``, so the handshake asks for those first."""
    entry = _load(known_hosts).lookup(name)
    if not entry:
        return []
    types: list[str] = []
    for key_type in list(entry.keys()):  # noqa: SIM118 (HostKeyEntry mapping)
        if key_type == "ssh-rsa":  # the same RSA key, signed with SHA-2 by modern servers
            types.extend(["rsa-sha2-512", "rsa-sha2-256"])
        types.append(key_type)
    return types
