"""Counts files, the ideal distribution and fidelity, collect and the summary table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from qiskit import QuantumCircuit

from qcos.circuits.qasm import dumps
from qcos.circuits.sweep import CircuitSpec
from qcos.results.aggregate import csv_text, runtime_rows, summarize, summary_columns, summary_rows
from qcos.results.counts import (
    ResultsError,
    atomic_write_text,
    counts_record,
    is_current,
    read_counts,
    sha256_text,
    write_counts,
)
from qcos.results.fidelity import fidelity, ideal_distribution
from qcos.results.provenance import config_hash, provenance


def record(circuit_id: str = "ghz-q2", counts: dict | None = None, **overrides) -> dict:
    base = dict(
        circuit_id=circuit_id, family="ghz", params={"qubits": 2}, counts=counts or {"11": 3, "00": 5},
        shots=8, seed=1, chunk_shots=1024, num_qubits=2, num_clbits=2, depth=3,
        qasm_sha256="abc", versions={"qiskit": "x"},
    )
    base.update(overrides)
    return counts_record(**base)


def test_counts_files_are_canonical_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "a.json"
    write_counts(path, record())
    text = path.read_text()
    assert text.endswith("\n") and list(json.loads(text)) == sorted(json.loads(text))
    assert list(json.loads(text)["counts"]) == ["00", "11"]
    write_counts(tmp_path / "b.json", record(counts={"00": 5, "11": 3}))
    assert (tmp_path / "b.json").read_bytes() == path.read_bytes()
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]  # no temporary files left
    assert read_counts(path)["counts"] == {"00": 5, "11": 3}


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_bad_counts_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="is missing"):
        read_counts(tmp_path / "nope.json")
    (tmp_path / "torn.json").write_text('{"format": "qcos-co')
    with pytest.raises(ResultsError, match="unreadable"):
        read_counts(tmp_path / "torn.json")
    with pytest.raises(ResultsError, match="add up to 8 shots, not 9"):
        write_counts(tmp_path / "x.json", {**record(), "shots": 9})


def test_is_current_compares_identity_fields(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    write_counts(path, record())
    expected = {"format": "qcos-counts/1", "circuit_id": "ghz-q2", "shots": 8, "seed": 1,
                "chunk_shots": 1024, "qasm_sha256": "abc"}
    assert is_current(path, expected)
    assert not is_current(path, {**expected, "seed": 2})
    assert not is_current(path, {**expected, "qasm_sha256": "def"})
    assert not is_current(tmp_path / "missing.json", expected)


def test_ideal_distribution_follows_qiskit_bit_order() -> None:
    circuit = QuantumCircuit(3, 2)
    circuit.x(2)
    circuit.measure(2, 0)  # clbit 0 <- qubit 2 (always 1)
    circuit.measure(0, 1)  # clbit 1 <- qubit 0 (always 0)
    assert ideal_distribution(circuit) == pytest.approx({"01": 1.0})
    ghz = QuantumCircuit(3)
    ghz.h(0)
    ghz.cx(0, 1)
    ghz.cx(1, 2)
    ghz.measure_all()
    assert ideal_distribution(ghz) == pytest.approx({"000": 0.5, "111": 0.5})
    assert fidelity({"000": 50, "111": 50}, ideal_distribution(ghz)) == pytest.approx(1.0)
    assert fidelity({"000": 100}, ideal_distribution(ghz)) == pytest.approx(0.5)


def test_ideal_distribution_declines_mid_circuit_measurement() -> None:
    circuit = QuantumCircuit(1, 2)
    circuit.h(0)
    circuit.measure(0, 0)
    circuit.h(0)
    circuit.measure(0, 1)
    assert ideal_distribution(circuit) is None


def test_summary_rows_are_deterministic(tmp_path: Path) -> None:
    ghz = QuantumCircuit(2)
    ghz.h(0)
    ghz.cx(0, 1)
    ghz.measure_all()
    qasm = tmp_path / "ghz.qasm"
    qasm.write_text(dumps(ghz))
    write_counts(tmp_path / "ghz.json", record(qasm_sha256=sha256_text(qasm.read_text())))
    spec = CircuitSpec("ghz-q2", "ghz", {"qubits": 2}, 0)
    rows = summarize([spec], [tmp_path / "ghz.json"], [qasm])
    assert rows[0]["top_outcome"] == "00" and rows[0]["top_probability"] == "0.625000"
    assert 0.9 < float(rows[0]["hellinger_fidelity"]) < 1.0
    # a perfect sampler at 8 shots reaches less than 1, and the reference is seeded (byte-stable)
    assert 0.8 < float(rows[0]["fidelity_ideal_sampler_low"]) <= float(rows[0]["fidelity_ideal_sampler"]) < 1.0
    columns = summary_columns([{"params": {"qubits": 2}}])
    text = csv_text(rows, columns)
    assert text.splitlines()[0] == ",".join(columns) and "params" not in columns and "qubits" in columns
    assert text == csv_text(summarize([spec], [tmp_path / "ghz.json"], [qasm]), columns)
    assert summarize([spec], [tmp_path / "ghz.json"], [qasm], fidelity_max_qubits=1)[0]["hellinger_fidelity"] == ""


def test_summary_has_one_column_per_swept_parameter() -> None:
    def rec(circuit_id: str, family: str, params: dict) -> dict:
        return {"circuit_id": circuit_id, "family": family, "params": params, "counts": {"0": 4}, "shots": 4,
                "num_qubits": 1, "depth": 1}

    records = [rec("ghz-q1", "ghz", {"qubits": 1}),
               rec("qaoa", "qaoa_ring", {"qubits": 2, "gamma": 0.5, "beta": 0.25, "layers": 1}),
               rec("r", "random", {"qubits": 3, "depth": 5, "density": 0.5, "instance": 2})]
    columns, rows = summary_rows(records)
    assert columns[:8] == ["circuit_id", "family", "depth", "density", "gamma", "beta", "layers", "instance"]
    text = csv_text(rows, columns).splitlines()
    assert text[1].startswith("ghz-q1,ghz,,,,,,,1,")
    assert text[2].startswith("qaoa,qaoa_ring,,,0.5,0.25,1,,1,")
    assert text[3].startswith("r,random,5,0.5,,,,2,1,")


def test_runtime_rows_read_run_records(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"batch": "b0", "circuits": {
        "a": {"node_ids": ["n0", "n1"], "execute_s": 0.5, "chunks": 2, "reused": False}}}))
    rows = runtime_rows([CircuitSpec("a", "ghz", {}, 0), CircuitSpec("b", "ghz", {}, 0)], [tmp_path / "r.json"], {"a": 2})
    assert rows[0]["node_ids"] == "n0 n1" and rows[0]["batch"] == "b0" and rows[1]["execute_s"] == ""


def test_provenance_records_config_hash_and_versions(tmp_path: Path) -> None:
    cluster = [{"provider": "custom_rest", "api_key": "s3cret"}]
    config = {"experiment": "e", "seed": 3, "shots": 10, "cluster": []}
    data = provenance(config, cluster=cluster, n_circuits=2, workflow_dir=tmp_path)
    assert data["config_sha256"] == config_hash({"shots": 10, "seed": 3, "experiment": "e", "cluster": []})
    assert data["packages"]["qiskit"] and data["seed"] == 3
    assert "s3cret" not in json.dumps(data)
    assert "s3cret" not in json.dumps(provenance({**config, "cluster": cluster}, cluster=cluster, n_circuits=2))
    assert data["git"] == {"commit": None, "dirty": None}


def test_atomic_writes_follow_the_umask(tmp_path) -> None:
    import os
    import stat

    from qcos.atomic import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "shared.json", "{}\n")
        os.umask(0o077)
        atomic_write_text(tmp_path / "private.json", "{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["private.json", "shared.json"]
