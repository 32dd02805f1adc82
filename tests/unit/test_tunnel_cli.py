"""CLI wiring of `qcos tunnel` (tunnels/cli.py) and `qcos bridge deploy|status|stop` (bridge/cli.py), no SSH needed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qcos.cli import build_parser


def test_tunnel_and_bridge_commands_parse() -> None:
    parser = build_parser()
    args = parser.parse_args(["tunnel", "lumi", "--remote-port", "8888", "--local-port", "18888",
                              "--accept-new-host-key"])
    assert (args.host, args.remote_port, args.local_port, args.accept_new_host_key) == ("lumi", 8888, 18888, True)
    args = parser.parse_args(["bridge", "deploy", "lumi", "--remote-dir", "/flash/p/qcos", "--python",
                              "/flash/p/venv/bin/python", "--port", "8890", "--device", "gpu",
                              "--api-key-file", "key.txt", "--ssh-port", "2222"])
    assert (args.remote_dir, args.port, args.device, args.ssh_port) == ("/flash/p/qcos", 8890, "GPU", 2222)
    for action in ("status", "stop"):
        args = parser.parse_args(["bridge", action, "lumi"])
        assert (args.port, args.remote_dir) == (8888, "qcos-bridge")


def test_tunnel_requires_remote_port() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["tunnel", "lumi"])


def test_cli_module_imports_cheaply() -> None:
    code = "import sys, qcos.tunnels.cli, qcos.bridge.cli, qcos.tunnels; print('paramiko' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_missing_key_file_is_a_clear_error(tmp_path) -> None:
    from qcos.cli import main

    assert main(["bridge", "deploy", "somewhere", "--api-key-file", str(tmp_path / "nope")]) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tunnel", "lumi", "--remote-port", "8888", "--ssh-port", "0"], "--ssh-port must be the SSH server's TCP port"),
        (["bridge", "status", "lumi", "--user", " "], "--user must be a remote user name, got"),
    ],
)
def test_bad_ssh_option_is_one_line_naming_the_flag(argv: list[str], message: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from qcos.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "unexpected" not in err and len(err.strip().splitlines()) == 1
