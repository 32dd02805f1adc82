"""known_hosts verification: unknown and changed keys refused with advice; accept-new records once."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from qcos.exceptions import HostKeyError
from qcos.tunnels.hostkeys import known_key_types, parse_policy, verify_host_key

NAME = "[cluster.example.org]:2222"


@pytest.fixture(scope="module")
def keys() -> tuple[paramiko.PKey, paramiko.PKey]:
    return paramiko.RSAKey.generate(1024), paramiko.RSAKey.generate(1024)


def _verify(key: paramiko.PKey, known: Path, policy: str = "strict") -> None:
    verify_host_key(key, name=NAME, hostname="cluster.example.org", port=2222, known_hosts=[str(known)],
                    policy=policy)


def test_known_key_is_accepted(tmp_path: Path, keys) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"{NAME} {keys[0].get_name()} {keys[0].get_base64()}\n")
    _verify(keys[0], known)
    assert known_key_types(NAME, [str(known)])[-1] == "ssh-rsa"


def test_hashed_entries_are_understood(tmp_path: Path, keys) -> None:
    known = tmp_path / "known_hosts"
    hashed = paramiko.HostKeys.hash_host(NAME)
    known.write_text(f"{hashed} {keys[0].get_name()} {keys[0].get_base64()}\n")
    _verify(keys[0], known)  # the hashed entry matches: accepted under the strict policy
    assert known_key_types(NAME, [str(known)])[-1] == "ssh-rsa"  # the entry is found by its hash
    with pytest.raises(HostKeyError, match="HOST KEY MISMATCH"):  # and it is this host's entry
        _verify(keys[1], known)
    assert known.read_text().startswith(hashed)  # the file is left as it was


def test_unknown_key_is_refused_with_the_keyscan_command(tmp_path: Path, keys) -> None:
    known = tmp_path / "known_hosts"
    with pytest.raises(HostKeyError) as caught:
        _verify(keys[0], known)
    message = str(caught.value)
    assert f"ssh-keyscan -p 2222 cluster.example.org >> {known}" in message
    assert "accept-new" in message and keys[0].fingerprint in message
    assert not known.exists()


def test_changed_key_is_refused_under_every_policy(tmp_path: Path, keys) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"{NAME} {keys[0].get_name()} {keys[0].get_base64()}\n")
    for policy in ("strict", "accept-new"):
        with pytest.raises(HostKeyError, match="HOST KEY MISMATCH") as caught:
            _verify(keys[1], known, policy)
        assert f"ssh-keygen -R '{NAME}' -f {known}" in str(caught.value)


def test_accept_new_appends_once(tmp_path: Path, keys) -> None:
    known = tmp_path / "sub" / "known_hosts"
    _verify(keys[0], known, "accept-new")
    text = known.read_text()
    assert text == f"{NAME} ssh-rsa {keys[0].get_base64()}\n"
    assert known.stat().st_mode & 0o777 == 0o600
    _verify(keys[0], known)  # now strict passes
    assert known.read_text() == text


def test_policy_names() -> None:
    assert parse_policy(None) == "strict"
    assert parse_policy("yes") == "strict"
    assert parse_policy(None, "accept-new") == "accept-new"
    assert parse_policy(None, "no") == "strict"  # never weaker than strict from a config file
    with pytest.raises(HostKeyError, match="valid policies: strict, accept-new"):
        parse_policy("off")
