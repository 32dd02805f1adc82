"""SSHSettings: the one list of SSH options, checked where it is built (no network)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from qcos.exceptions import HostKeyError
from qcos.providers.ssh_bridge import SSHBridgeProvider
from qcos.tunnels.settings import SETTING_NAMES, SSHSettings


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"port": 0}, "port must be the SSH server's TCP port"),
        ({"port": True}, "port must be"),
        ({"user": " "}, "user must be a remote user name"),
        ({"connect_timeout_s": 0}, "connect_timeout_s must be a positive number"),
        ({"keepalive_s": "15"}, "keepalive_s must be a positive number"),
        ({"keepalive_count_max": 0}, "keepalive_count_max must be a positive integer"),
        ({"identity": 42}, "identity must be a file path"),
    ],
)
def test_bad_values_name_the_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SSHSettings(**options)


def test_unknown_host_key_policy_lists_the_valid_ones() -> None:
    with pytest.raises(HostKeyError, match="valid policies: strict, accept-new"):
        SSHSettings(host_key_policy="no")


def test_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(TypeError, match=r"unknown SSH option\(s\) \['identity_file'\]; valid options: ssh_config"):
        SSHSettings.of(identity_file="~/.ssh/id")


def test_paths_are_normalised_so_equal_settings_share_a_tunnel(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    a = SSHSettings.of(identity=key, known_hosts=tmp_path / "known", keepalive_s=5)
    b = SSHSettings.of(SSHSettings(known_hosts=str(tmp_path / "known")), identity=str(key), keepalive_s=5.0)
    assert a == b and hash(a) == hash(b)
    assert SSHSettings(identity=[str(key), key]).identity == (str(key), str(key))
    assert a.as_kwargs() == {"identity": str(key), "known_hosts": str(tmp_path / "known"), "keepalive_s": 5.0}


def test_the_ssh_bridge_provider_lists_every_ssh_option() -> None:
    parameters = inspect.signature(SSHBridgeProvider.build_nodes).parameters
    assert set(SETTING_NAMES) <= set(parameters)
    assert all(parameters[name].kind is inspect.Parameter.KEYWORD_ONLY for name in SETTING_NAMES)
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
