"""Workflow config validation (schema + qcos checks) and the parse-time batch plan."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qcos.circuits.families import FAMILIES
from qcos.exceptions import ConfigError
from qcos.workflow.config import DEFAULT_SCHEMA, load_schema, validate_config
from qcos.workflow.plan import Plan, is_batch_id, make_batches

REPO = Path(__file__).resolve().parents[2]
GHZ = [{"family": "ghz", "qubits": [3]}]


def error_of(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        Plan.from_config(validate_config(config))
    return str(info.value)


def test_defaults_are_filled() -> None:
    config = validate_config({"circuits": GHZ})
    assert config["experiment"] == "demo" and config["seed"] == 1234 and config["shots"] == 1024
    assert config["batch_size"] == 50
    assert config["transpile"] == {"optimization_level": 1, "basis_gates": ["cx", "rz", "sx", "x", "h"], "coupling_map": None}
    assert config["dispatch"]["chunk_shots"] == "auto"
    assert config["cluster"] == [{"provider": "local_cpu", "n_nodes": 1}]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"circuits": [*GHZ, {"family": "ghz", "qubits": -3}]}, "config: circuits[1].qubits: -3 is less than the minimum of 1"),
        ({"shots": -5, "circuits": GHZ}, "config: shots: -5 is less than the minimum of 1"),
        ({"shots": "many", "circuits": GHZ}, "config: shots: 'many' is not of type 'integer'"),
        ({"shot": 5, "circuits": GHZ}, "config: unknown key 'shot' (did you mean 'shots'?); allowed keys: aggregate,"),
        ({"circuits": [{"family": "ghzz", "qubits": 3}]}, "config: circuits[0].family: unknown family 'ghzz'; known families: ghz, qaoa_ring, qasm, qft, qv, random"),
        ({"circuits": [{"family": "ghz", "qbits": 3}]}, "config: circuits[0]: unknown key(s) 'qbits' for family 'ghz'"),
        ({"circuits": []}, "config: circuits: [] should be non-empty"),
        ({"seed": 1}, "config: 'circuits' is a required key"),
        ({"circuits": GHZ, "transpile": {"optimisation_level": 2}}, "did you mean 'optimization_level'?"),
        ({"circuits": GHZ, "cluster": [{"provider": "local_cpuu"}]}, "config: cluster[0].provider: unknown provider 'local_cpuu'; registered:"),
        ({"circuits": GHZ, "cluster": [{"provider": "local_cpu", "nodes": 2}]}, "valid arguments: n_nodes (default: 1)"),
        ({"circuits": GHZ, "experiment": "a/b"}, "config: experiment: 'a/b' does not match"),
        ({"circuits": GHZ, "experiment": "demo\n"}, "config: experiment: 'demo\\n' does not match"),
        ({"circuits": GHZ, "dispatch": {"chunk_shots": "lots"}}, "config: dispatch.chunk_shots: 'lots' is not one of ['auto']"),
        ({"circuits": GHZ, "dispatch": {"chunk_shots": 0}}, "config: dispatch.chunk_shots: 0 is less than the minimum of 1"),
    ],
)
def test_bad_configs_fail_with_the_key_named(config: dict, expected: str) -> None:
    assert expected in error_of(config)


def test_schema_lists_every_family() -> None:
    schema = load_schema(DEFAULT_SCHEMA)
    assert set(schema["properties"]["circuits"]["items"]["properties"]["family"]["enum"]) == set(FAMILIES)
    params = {name for family in FAMILIES.values() for name in family.params}
    assert params <= set(schema["properties"]["circuits"]["items"]["properties"])


def test_default_config_file_is_valid() -> None:
    config = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), base_dir=REPO)
    plan = Plan.from_config(config, base_dir=REPO)
    assert len(plan.ids) == 3 + 2 + 12 + 6 + 30 + 2
    assert "random-q10-d5-i2" in plan.ids and "qaoa_ring-q6-g0.6-b0.25" in plan.ids and "qv-q4-i2" in plan.ids
    assert config["noise"] is None


def test_cluster_file_replaces_cluster(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("cluster:\n  - {provider: local_cpu, n_nodes: 3}\n")
    config = validate_config({"circuits": GHZ, "cluster_file": "c.yaml"}, base_dir=tmp_path)
    assert config["cluster"] == [{"provider": "local_cpu", "n_nodes": 3}]
    (tmp_path / "bad.yaml").write_text("- {provider: nope}\n")
    with pytest.raises(ConfigError, match=r"config: cluster_file\[0\].provider: unknown provider 'nope'"):
        validate_config({"circuits": GHZ, "cluster_file": "bad.yaml"}, base_dir=tmp_path)


@pytest.mark.parametrize("name", ["local", "slurm", "lumi"])
def test_profile_clusters_are_valid(name: str) -> None:
    profile = yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())
    cluster_file = (profile.get("config") or {}).get("cluster_file")
    config = validate_config({"circuits": GHZ, "cluster_file": cluster_file}, base_dir=REPO)
    assert config["cluster"]


def test_batches_are_cut_within_entries_and_stay_put_when_a_point_is_appended() -> None:
    base = [{"family": "ghz", "qubits": {"range": [2, 9]}}, {"family": "qft", "qubits": [3, 4, 5]}]
    plan = Plan.from_config(validate_config({"circuits": base, "batch_size": 3}))
    assert [(b.id, b.ids) for b in plan.batches] == [
        ("ghz-0-0000", ["ghz-q2", "ghz-q3", "ghz-q4"]),
        ("ghz-0-0001", ["ghz-q5", "ghz-q6", "ghz-q7"]),
        ("ghz-0-0002", ["ghz-q8"]),
        ("qft-0-0000", ["qft-q3", "qft-q4", "qft-q5"]),
    ]
    grown = [{"family": "ghz", "qubits": {"range": [2, 10]}}, base[1]]
    after = Plan.from_config(validate_config({"circuits": grown, "batch_size": 3}))
    changed = {b.id for b in after.batches} ^ {b.id for b in plan.batches} | {
        b.id for b in after.batches for old in plan.batches if b.id == old.id and b.ids != old.ids
    }
    assert changed == {"ghz-0-0002"}


def test_adding_a_family_anywhere_keeps_every_old_batch_name() -> None:
    base = [{"family": "ghz", "qubits": {"range": [2, 9]}}, {"family": "qft", "qubits": [3, 4, 5]}]
    plan = Plan.from_config(validate_config({"circuits": base, "batch_size": 3}))
    grown = [{"family": "random", "qubits": 3, "depth": 2, "instances": 4}, base[0],
             {"family": "ghz", "qubits": [12]}, base[1]]
    after = Plan.from_config(validate_config({"circuits": grown, "batch_size": 3}))
    old = {b.id: b.ids for b in plan.batches}
    new = {b.id: b.ids for b in after.batches}
    assert all(new[name] == ids for name, ids in old.items())
    assert set(new) - set(old) == {"random-0-0000", "random-0-0001", "ghz-1-0000"}
    assert all(is_batch_id(name) for name in new)


def test_ten_thousand_circuit_plan_is_fast() -> None:
    config = validate_config({"circuits": [{"family": "random", "qubits": {"range": [2, 12]},
                                            "depth": {"range": [1, 11]}, "instances": 100}]})
    plan = Plan.from_config(config)
    assert len(plan.ids) == 10_000 and len(plan.batches) == 200
    assert len(make_batches(plan.specs, 10_000)) == 1
