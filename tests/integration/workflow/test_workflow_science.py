"""Results a physicist trusts, end to end: noise in every executor and in provenance, one column
per swept parameter, a QAOA landscape whose maximum sits where the statevector puts it, and
per-circuit simulation times that grow with width."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector
from test_workflow import bridge_url, tables  # noqa: F401 - the real `qcos bridge serve` fixture
from workflow_helpers import results, run_ok, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

NOISE = {"depolarizing": {"p1": 0.002, "p2": 0.05}, "readout": 0.02}
GAMMAS = [0.3, 0.6, 0.9, 1.2]
BETAS = [0.2, 0.4, 0.6]
NOISY = {
    "experiment": "t",
    "seed": 7,
    "shots": 2048,
    "batch_size": 20,
    "circuits": [
        {"family": "ghz", "qubits": 5},
        {"family": "qaoa_ring", "qubits": 4, "gamma": GAMMAS, "beta": BETAS},
    ],
    "dispatch": {"chunk_shots": 512},
    "noise": NOISE,
    "cluster": [{"provider": "local_cpu", "n_nodes": 2}],
}


def rows_of(workdir: Path) -> dict[str, dict[str, str]]:
    with (results(workdir) / "summary.csv").open() as handle:
        return {row["circuit_id"]: row for row in csv.DictReader(handle)}


def exact_cut(n: int, gamma: float, beta: float) -> float:
    """Expected MaxCut of the p=1 ring QAOA state, computed here from a statevector (independently of qcos)."""
    circuit = QuantumCircuit(n)
    circuit.h(range(n))
    for i in range(n):
        circuit.rzz(2 * gamma, i, (i + 1) % n)
    circuit.rx(2 * beta, range(n))
    probabilities = Statevector(circuit).probabilities()
    return sum(p * sum(((k >> i) & 1) != ((k >> ((i + 1) % n)) & 1) for i in range(n))
               for k, p in enumerate(probabilities))


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("noisy")
    write_config(workdir, NOISY)
    run_ok(workdir)
    return workdir


def test_noise_lowers_ghz_fidelity_and_is_recorded(noisy_run: Path, reference_run: Path) -> None:
    noisy = rows_of(noisy_run)["ghz-q5"]
    assert float(noisy["hellinger_fidelity"]) < 0.95
    assert float(noisy["hellinger_fidelity"]) < float(noisy["fidelity_ideal_sampler_low"])  # more than sampling
    assert "depolarizing p1=0.002 p2=0.05" in noisy["noise"]
    assert float(rows_of(reference_run)["ghz-q5"]["hellinger_fidelity"]) > 0.98  # same circuit, ideal
    provenance = json.loads((results(noisy_run) / "provenance.json").read_text())
    assert provenance["noise"]["spec"] == NOISE and provenance["config"]["noise"] == NOISE
    assert len(provenance["noise"]["digest"]) == 16
    from qcos.results.reader import Results

    stored = Results(results(noisy_run)).get("ghz-q5")
    assert stored.metadata["noise"] == NOISE and stored.metadata["metrics"]["hellinger_fidelity"] < 0.95


def test_qaoa_rows_have_gamma_and_beta_and_the_landscape_max_is_exact(noisy_run: Path) -> None:
    rows = [r for r in rows_of(noisy_run).values() if r["family"] == "qaoa_ring"]
    assert len(rows) == len(GAMMAS) * len(BETAS)
    assert {(float(r["gamma"]), float(r["beta"])) for r in rows} == {(g, b) for g in GAMMAS for b in BETAS}
    assert all(r["layers"] == "1" and "depth" not in r for r in rows)  # no family here sweeps depth
    exact = {(g, b): exact_cut(4, g, b) for g in GAMMAS for b in BETAS}
    ranked = sorted(exact.values(), reverse=True)
    assert ranked[0] - ranked[1] > 0.15  # the grid has one clear best cell
    best = max(exact, key=exact.get)
    measured = max(rows, key=lambda r: float(r["expected_cut"]))
    assert (float(measured["gamma"]), float(measured["beta"])) == best
    for row in rows:  # qcos's own exact column agrees with this test's statevector
        assert math.isclose(float(row["expected_cut_exact"]), exact[(float(row["gamma"]), float(row["beta"]))],
                            abs_tol=1e-5)
    png = results(noisy_run) / "plots" / "qaoa_landscape.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 20_000


def test_noisy_counts_through_a_bridge_equal_local_nodes(noisy_run: Path, tmp_path: Path,
                                                         bridge_url: str) -> None:  # noqa: F811
    workdir = tmp_path / "bridge-run"
    workdir.mkdir()
    cluster = [{"provider": "custom_rest", "endpoints": [bridge_url, bridge_url], "max_qubits": 12, "timeout_s": 60}]
    write_config(workdir, {**NOISY, "cluster": cluster})
    run_ok(workdir)
    assert tables(workdir) == tables(noisy_run)
    assert (results(workdir) / "summary.csv").read_bytes() == (results(noisy_run) / "summary.csv").read_bytes()


def test_simulation_time_grows_with_width(tmp_path: Path) -> None:
    write_config(tmp_path, {"experiment": "t", "seed": 3, "shots": 1024, "circuits": [{"family": "ghz", "qubits": [3, 20]}],
                            "cluster": [{"provider": "local_cpu", "n_nodes": 1}]})
    run_ok(tmp_path)
    with (results(tmp_path) / "runtimes.csv").open() as handle:
        times = {row["circuit_id"]: float(row["simulate_s"]) for row in csv.DictReader(handle)}
    assert 0 < times["ghz-q3"] < times["ghz-q20"]
