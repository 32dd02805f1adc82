"""Secrets never reach provenance, logs, run records or error messages; keys can live outside configs."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from qcos.exceptions import ConfigError, NodeExecutionError
from qcos.providers.cluster import ClusterBuilder, load_cluster_config
from qcos.providers.keys import resolve_api_key
from qcos.providers.rest import CustomRESTProvider
from qcos.redact import MASK, RedactingFilter, is_secret_name, mask, mask_text
from qcos.results.provenance import provenance

SECRETS = ("pw-7f3a", "tok-91c2", "nested-5e1d", "hf_setup_88aa", "bearer-0b6e", "flag-4c4c")


def _config() -> dict:
    return {
        "experiment": "leaks",
        "seed": 1,
        "cluster": [
            {"provider": "custom_rest", "endpoints": ["http://alice:pw-7f3a@bridge.example:8888"],
             "api_key": "tok-91c2", "api_key_env": "BRIDGE_KEY_NAME"},
            {"provider": "slurm", "slurm_extra": {"comment": "x", "auth": {"token": "nested-5e1d"}},
             "setup": ["module load rocm", "export HF_TOKEN=hf_setup_88aa"]},
        ],
        "notes": ["curl -H 'Authorization: Bearer bearer-0b6e' http://h", "qcos bridge serve --api-key flag-4c4c"],
    }


def test_user_password_urls_nested_tokens_and_setup_lines_are_absent_from_provenance() -> None:
    record = provenance(_config(), cluster=[{"endpoint": "https://u:pw-7f3a@h", "options": {"password": "tok-91c2"}}],
                        n_circuits=1)
    text = json.dumps(record)
    for secret in SECRETS:
        assert secret not in text, secret
    assert "bridge.example:8888" in text and "module load rocm" in text  # the rest stays readable
    assert record["config"]["cluster"][0]["api_key_env"] == "BRIDGE_KEY_NAME"  # where a key lives is not secret
    assert "http://***@bridge.example:8888" in text


@pytest.mark.parametrize(("text", "expected"), [
    ("http://alice:pw@host:1/x", "http://***@host:1/x"),
    ("https://TOKEN@github.com/a", "https://***@github.com/a"),
    ("Authorization: Bearer abc.def", "Authorization: ***"),
    ('{"Authorization": "Basic dXNlcjpwdw=="}', '{"Authorization": "***"}'),
    ("export HF_TOKEN=abc; module load x", "export HF_TOKEN=***; module load x"),
    ("serve --api-key abc --port 1", "serve --api-key *** --port 1"),
    ("--api-key=abc", "--api-key=***"),
    ("PGPASSWORD='abc' psql", "PGPASSWORD='***' psql"),
    ("password: hunter2", "password: ***"),
    ("api_key_env: BRIDGE_KEY", "api_key_env: BRIDGE_KEY"),
    ("--api-key-file /run/key", "--api-key-file /run/key"),
    ("allowed keys: family, qubits", "allowed keys: family, qubits"),
    ("KeyError: 'x' at http://host:8888/health", "KeyError: 'x' at http://host:8888/health"),
])
def test_mask_text(text: str, expected: str) -> None:
    assert mask_text(text) == expected


def test_mask_is_recursive_and_keeps_structure() -> None:
    masked = mask({"a": [{"token": "t", "b": ("x", {"client_secret": "s"})}], "auth": True, "api_key": None})
    assert masked == {"a": [{"token": MASK, "b": ("x", {"client_secret": MASK})}], "auth": True, "api_key": None}
    assert is_secret_name("BRIDGE_API_KEY") and is_secret_name("hfToken") and not is_secret_name("api_key_file")


def test_errors_never_print_secrets() -> None:
    error = NodeExecutionError("custom-rest-0", "http://bob:pw-7f3a@h:1/run-batch failed: Authorization: Bearer x1")
    assert "pw-7f3a" not in str(error) and "x1" not in str(error) and "custom-rest-0" in str(error)
    with pytest.raises(ConfigError) as info:
        load_cluster_config([{"provider": "no_such", "api_key": "zz"}, {}], where="https://u:pw-7f3a@h")
    assert "pw-7f3a" not in str(info.value)


def test_log_records_and_tracebacks_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(RedactingFilter())
    log = logging.getLogger("qcos.test_redact")
    log.warning("connecting to %s with token=%s", "http://u:pw-7f3a@h", "tok-91c2")
    try:
        raise RuntimeError("boom: --api-key flag-4c4c")
    except RuntimeError:
        log.exception("failed")
    text = caplog.text
    assert "pw-7f3a" not in text and "tok-91c2" not in text and "flag-4c4c" not in text
    assert "connecting to http://***@h with token=***" in text and "RuntimeError" in text


def test_api_key_from_env_or_file_for_custom_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QCOS_TEST_KEY", " from-env \n")
    nodes = CustomRESTProvider().build_nodes(endpoints=["http://127.0.0.1:9"], api_key_env="QCOS_TEST_KEY")
    assert nodes[0].credentials["api_key"] == "from-env"
    key_file = tmp_path / "key"
    key_file.write_text("from-file\nignored\n")
    key_file.chmod(0o600)
    nodes = CustomRESTProvider().build_nodes(endpoints=["http://127.0.0.1:9"], api_key_file=str(key_file))
    assert nodes[0].credentials["api_key"] == "from-file"
    assert resolve_api_key() is None and resolve_api_key("inline") == "inline"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"api_key": "a", "api_key_env": "B"}, "give one of api_key, api_key_env"),
    ({"api_key_env": "QCOS_UNSET_VARIABLE_X"}, "QCOS_UNSET_VARIABLE_X is not set"),
    ({"api_key_file": "/nonexistent/key"}, "api_key_file /nonexistent/key: cannot read it"),
    ({"api_key": "  "}, "api_key is empty"),
])
def test_api_key_sources_fail_with_the_argument_named(kwargs: dict, message: str) -> None:
    os.environ.pop("QCOS_UNSET_VARIABLE_X", None)
    with pytest.raises(ValueError, match=message):
        resolve_api_key(**kwargs)


def test_workflow_style_cluster_entry_takes_api_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QCOS_TEST_KEY", "wf-key")
    builder = load_cluster_config([{"provider": "custom_rest", "endpoints": ["http://127.0.0.1:9"],
                                    "api_key_env": "QCOS_TEST_KEY"}])
    assert isinstance(builder, ClusterBuilder)
    plan = json.dumps(builder.describe())
    assert "QCOS_TEST_KEY" in plan and "wf-key" not in plan


def test_ssh_bridge_resolves_its_key_source_before_connecting() -> None:
    from qcos.providers.ssh_bridge import SSHBridgeProvider

    os.environ.pop("QCOS_UNSET_VARIABLE_X", None)
    with pytest.raises(ValueError, match="QCOS_UNSET_VARIABLE_X is not set"):
        SSHBridgeProvider().build_nodes(host="unreachable.invalid", api_key_env="QCOS_UNSET_VARIABLE_X")
