"""The batch steps without Snakemake: transpile, dispatch, reuse of current counts files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qcos.circuits.qasm import load_file
from qcos.results.counts import read_counts
from qcos.workflow.config import validate_config
from qcos.workflow.plan import Plan
from qcos.workflow.steps import dispatch_batch, transpile_batch


@pytest.fixture()
def planned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, Plan]:
    monkeypatch.chdir(tmp_path)
    config = validate_config({
        "seed": 5, "shots": 200, "batch_size": 10,
        "circuits": [{"family": "ghz", "qubits": [2, 3]}, {"family": "qaoa_ring", "qubits": 3, "gamma": 0.4, "beta": 0.3}],
    })
    return config, Plan.from_config(config)


def run_all(config: dict, plan: Plan) -> list[dict]:
    records = []
    for batch in plan:
        qasm = [plan.qasm(i) for i in batch.ids]
        transpile_batch(batch.specs, qasm, seed=config["seed"], transpile=config["transpile"])
        records.append(dispatch_batch(batch.specs, qasm, [plan.counts(i) for i in batch.ids], plan.run_record(batch),
                                      config=config, batch=batch.id))
    return records


def test_transpiled_qasm_uses_numeric_angles_and_the_basis(planned: tuple[dict, Plan]) -> None:
    config, plan = planned
    run_all(config, plan)
    text = Path(plan.qasm("qaoa_ring-q3-g0.4-b0.3")).read_text()
    assert "pi" not in text
    assert set(load_file(plan.qasm("qaoa_ring-q3-g0.4-b0.3")).count_ops()) <= {"cx", "rz", "sx", "x", "h", "measure", "barrier"}


def test_dispatch_writes_counts_and_then_reuses_them(planned: tuple[dict, Plan]) -> None:
    config, plan = planned
    first = run_all(config, plan)
    assert first[0]["simulated"] == ["ghz-q2", "ghz-q3"] and first[0]["reused"] == []
    record = read_counts(plan.counts("ghz-q3"))
    assert set(record["counts"]) <= {"000", "111"} and record["hellinger_fidelity"] > 0.99
    before = {i: Path(plan.counts(i)).read_bytes() for i in plan.ids}
    again = run_all(config, plan)
    assert again[0]["simulated"] == [] and again[0]["reused"] == ["ghz-q2", "ghz-q3"]
    assert {i: Path(plan.counts(i)).read_bytes() for i in plan.ids} == before
    kept = json.loads(Path(plan.run_record(plan.batches[0])).read_text())["circuits"]["ghz-q2"]
    assert kept["reused"] is True and kept["node_ids"] == ["local-cpu-0"]  # where it really ran


def test_a_new_seed_recomputes(planned: tuple[dict, Plan]) -> None:
    config, plan = planned
    run_all(config, plan)
    records = run_all({**config, "seed": 6}, plan)
    assert records[0]["simulated"] == ["ghz-q2", "ghz-q3"]
    assert read_counts(plan.counts("ghz-q2"))["seed"] == 6
