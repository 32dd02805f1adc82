"""Resolving ssh-config aliases into SSHTarget: HostName, User, Port, IdentityFile, ProxyJump, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from qcos.exceptions import TunnelError
from qcos.tunnels.sshconfig import resolve_target


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    path.write_text(
        "Host lumi\n"
        "    HostName lumi.csc.fi\n"
        "    User alice\n"
        "    IdentityFile ~/.ssh/id_lumi\n"
        "    ServerAliveInterval 30\n"
        "    ServerAliveCountMax 4\n"
        "    UserKnownHostsFile /etc/qcos/known_hosts\n"
        "Host inner\n"
        "    HostName 10.0.0.5\n"
        "    Port 2200\n"
        "    ProxyJump bastion,lumi\n"
        "Host bastion\n"
        "    HostName bastion.example.org\n"
        "    User bob\n"
        "    Port 2022\n"
        "Host loop\n"
        "    ProxyJump loop\n"
    )
    return path


def test_alias_settings(config: Path) -> None:
    target = resolve_target("lumi", ssh_config=config)
    assert (target.hostname, target.port, target.user) == ("lumi.csc.fi", 22, "alice")
    assert target.identity_files == (str(Path("~/.ssh/id_lumi").expanduser()),)
    assert target.known_hosts == ("/etc/qcos/known_hosts",)
    assert (target.keepalive_s, target.keepalive_count_max) == (30.0, 4)
    assert target.known_hosts_name == "lumi.csc.fi"
    assert target.jumps == ()


def test_proxyjump_chain_is_resolved_through_the_config(config: Path) -> None:
    target = resolve_target("inner", ssh_config=config, user="carol")
    assert (target.hostname, target.port, target.user) == ("10.0.0.5", 2200, "carol")
    assert target.known_hosts_name == "[10.0.0.5]:2200"
    bastion, lumi = target.jumps
    assert (bastion.hostname, bastion.port, bastion.user) == ("bastion.example.org", 2022, "bob")
    assert (lumi.hostname, lumi.user) == ("lumi.csc.fi", "alice")
    assert "via bob@bastion.example.org:2022 via alice@lumi.csc.fi:22" in target.describe()


def test_explicit_arguments_win(config: Path, tmp_path: Path) -> None:
    target = resolve_target(
        "lumi", ssh_config=config, user="dave", port=2222, identity=str(tmp_path / "key"),
        known_hosts=tmp_path / "kh",
    )
    assert (target.user, target.port) == ("dave", 2222)
    assert target.identity_files == (str(tmp_path / "key"),)
    assert target.known_hosts == (str(tmp_path / "kh"),)


def test_user_host_port_spec_without_config() -> None:
    target = resolve_target("erin@example.org:2201", ssh_config="/dev/null")
    assert (target.user, target.hostname, target.port) == ("erin", "example.org", 2201)


def test_missing_config_file_given_explicitly_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TunnelError, match="does not exist"):
        resolve_target("x", ssh_config=tmp_path / "nope")


def test_jump_loop_is_detected(config: Path) -> None:
    with pytest.raises(TunnelError, match="loop"):
        resolve_target("loop", ssh_config=config)


def test_bad_port_in_spec() -> None:
    with pytest.raises(TunnelError, match="bad port"):
        resolve_target("host:abc", ssh_config="/dev/null")
