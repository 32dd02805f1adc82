"""The batch steps without Snakemake: transpile tables, dispatch with the chunk journal, reading results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qcos.circuits.qasm import loads
from qcos.exceptions import ConfigError
from qcos.providers.base import ShotTask
from qcos.results.counts import ResultsError
from qcos.results.reader import Results
from qcos.results.store import read_counts_table, read_qasm_table
from qcos.workflow.config import validate_config
from qcos.workflow.journal import ChunkJournal, read_journal
from qcos.workflow.plan import Plan
from qcos.workflow.settings import RunSettings
from qcos.workflow.steps import dispatch_batch, transpile_and_dispatch, transpile_batch

GHZ_QAOA = [{"family": "ghz", "qubits": [2, 3]}, {"family": "qaoa_ring", "qubits": 3, "gamma": 0.4, "beta": 0.3}]


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def configure(**changes: object) -> tuple[RunSettings, Plan]:
    config = validate_config({"seed": 5, "shots": 200, "batch_size": 10, "circuits": GHZ_QAOA, **changes})
    return RunSettings.from_config(config), Plan.from_config(config)


def run_all(settings: RunSettings, plan: Plan, root: str | None = None) -> list[dict]:
    records = []
    for batch in plan:
        qasm, table, run, journal = (plan.path(kind, batch).replace(plan.root, root or plan.root, 1)
                                     for kind in ("qasm", "table", "run", "journal"))
        transpile_batch(batch.specs, qasm, settings=settings, batch=batch.id)
        records.append(dispatch_batch(qasm, table, run, journal, settings=settings, batch=batch.id))
    return records


def test_transpiled_tables_hold_numeric_angles_in_the_basis(workdir: Path) -> None:
    settings, plan = configure()
    run_all(settings, plan)
    (row,) = read_qasm_table(plan.path("qasm", "qaoa_ring-0-0000"))
    assert row.circuit_id == "qaoa_ring-q3-g0.4-b0.3" and "pi" not in row.qasm
    assert set(loads(row.qasm).count_ops()) <= {"cx", "rz", "sx", "x", "h", "measure", "barrier"}


def test_dispatch_writes_a_table_and_a_rerun_reuses_every_chunk(workdir: Path) -> None:
    settings, plan = configure()
    first = run_all(settings, plan)
    assert first[0]["chunks"] == {"total": 2, "reused": 0, "simulated": 2}
    records = read_counts_table(plan.path("table", "ghz-0-0000"))
    assert [r.circuit_id for r in records] == ["ghz-q2", "ghz-q3"]
    assert set(records[1].counts) <= {"000", "111"} and records[1].hellinger_fidelity > 0.99
    assert records[1].qasm_sha256 and records[1].metadata["versions"]["qiskit"]
    before = {p: Path(p).read_bytes() for p in plan.all_paths("table")}
    again = run_all(settings, plan)
    assert again[0]["chunks"] == {"total": 2, "reused": 2, "simulated": 0}
    assert again[0]["circuits"]["ghz-q2"]["reused"] is True
    assert {p: Path(p).read_bytes() for p in plan.all_paths("table")} == before


def test_a_new_seed_recomputes(workdir: Path) -> None:
    settings, plan = configure()
    run_all(settings, plan)
    settings, plan = configure(seed=6)
    records = run_all(settings, plan)
    assert records[0]["chunks"]["simulated"] == 2
    assert read_counts_table(plan.path("table", "ghz-0-0000"))[0].seed == 6


def test_raising_shots_runs_only_the_new_chunks_and_equals_a_fresh_run(workdir: Path) -> None:
    settings, plan = configure(shots=1024, dispatch={"chunk_shots": 256})
    run_all(settings, plan)
    settings, plan = configure(shots=2048, dispatch={"chunk_shots": 256})
    raised = run_all(settings, plan)
    assert raised[0]["chunks"] == {"total": 16, "reused": 8, "simulated": 8}
    fresh = run_all(settings, plan, root="fresh")
    assert fresh[0]["chunks"]["simulated"] == 16
    for path in plan.all_paths("table"):
        assert Path(path).read_bytes() == Path(path.replace(plan.root, "fresh", 1)).read_bytes()


def test_journal_skips_torn_lines_and_keys_on_content(tmp_path: Path) -> None:
    from qcos.qvm.result import ChunkRecord

    path = tmp_path / "j.jsonl"
    task = ShotTask(circuit=None, shots=10, seed=3, circuit_index=0, chunk_index=1)  # type: ignore[arg-type]
    with ChunkJournal(path, [("c", "sha")], {"noise": None}) as journal:
        journal.record(task, ChunkRecord(0, 1, 10, 3, "n0", 1, 0.1, {"0": 4, "1": 6}))
    with path.open("a") as handle:
        handle.write('{"k": "torn", "s": 10, "c": {"0": 4')  # what a kill -9 mid-write leaves
    assert len(read_journal(path)) == 1
    assert ChunkJournal(path, [("c", "sha")], {"noise": None}).lookup(task) == {"0": 4, "1": 6}
    assert ChunkJournal(path, [("c", "sha")], {"noise": {"readout": 0.1}}).lookup(task) is None
    assert ChunkJournal(path, [("c", "other")], {"noise": None}).lookup(task) is None
    other_seed = ShotTask(circuit=None, shots=10, seed=4, circuit_index=0, chunk_index=1)  # type: ignore[arg-type]
    assert ChunkJournal(path, [("c", "sha")], {"noise": None}).lookup(other_seed) is None


def test_settings_need_a_validated_config_and_count_local_cores() -> None:
    with pytest.raises(ConfigError, match="validate_config"):
        RunSettings.from_config({"circuits": GHZ_QAOA})
    config = validate_config({"circuits": GHZ_QAOA, "cluster": [
        {"provider": "local_cpu", "n_nodes": 3}, {"provider": "mock", "n_nodes": 5}, {"provider": "local_cpu"}]})
    settings = RunSettings.from_config(config)
    assert settings.dispatch_threads() == 4 and settings.local_nodes() == (4, 0)
    assert settings.transpile.basis_gates == ("cx", "rz", "sx", "x", "h")  # the schema's default


def test_a_dispatch_job_gives_its_local_cpu_nodes_only_its_own_cores() -> None:
    """Two 1-thread dispatch jobs on two cores must not each start Aer with every core's threads."""
    cluster = [{"provider": "local_cpu", "n_nodes": 2}, {"provider": "mock", "n_nodes": 5},
               {"provider": "local_cpu", "aer_options": {"max_parallel_threads": 6}}]
    settings = RunSettings.from_config(validate_config({"circuits": GHZ_QAOA, "cluster": cluster}))
    assert settings.job_cluster(None) == cluster
    shared = settings.job_cluster(7)  # 3 local CPU nodes share the job's 7 cores; an explicit setting stays
    assert [e.get("aer_options") for e in shared] == [{"max_parallel_threads": 2}, None, {"max_parallel_threads": 6}]
    assert settings.job_cluster(1)[0]["aer_options"] == {"max_parallel_threads": 1}
    assert settings.dispatch_threads() == 2 + 6  # what the job uses: one core per node, 6 where set
    assert settings.dispatch_threads(width=24, cores=64, batches=2) == 2 + 6  # an explicit setting wins
    assert settings.cluster[0] == {"provider": "local_cpu", "n_nodes": 2}  # the settings are not changed


def test_a_batch_of_wide_circuits_gets_a_share_of_the_run_cores() -> None:
    """Aer parallelises gates from 14 qubits: a lone wide batch takes the machine, small ones one core each."""
    settings = RunSettings.from_config(validate_config({"circuits": GHZ_QAOA, "cluster": [
        {"provider": "local_cpu"}, {"provider": "mock", "n_nodes": 2}]}))
    assert settings.dispatch_threads() == 1
    assert settings.dispatch_threads(width=22, cores=16, batches=1) == 16
    assert settings.dispatch_threads(width=22, cores=16, batches=3) == 5
    assert settings.dispatch_threads(width=22, cores=16, batches=40) == 1
    assert settings.dispatch_threads(width=8, cores=16, batches=1) == 1  # narrow: more threads only spin
    assert settings.dispatch_threads(width=None, cores=16) == 1  # width unknown: the nodes' own count
    assert settings.dispatch_threads(width=22, cores=None) == 1  # no --cores (dry run)
    plan = Plan.from_config(validate_config({"circuits": GHZ_QAOA}))
    assert plan.width(plan.batches[0]) == max(spec.params["qubits"] for spec in plan.batches[0].specs)


def test_counts_do_not_depend_on_the_job_threads(workdir: Path) -> None:
    settings, plan = configure(noise={"depolarizing": {"p1": 0.01, "p2": 0.05}})
    batch = plan.batches[0]
    tables = []
    for threads in (None, 1):
        table = f"t{threads}.parquet"
        transpile_and_dispatch(batch.specs, f"q{threads}.parquet", table, None, f"j{threads}.jsonl",
                               settings=settings, batch=batch.id, threads=threads)
        tables.append(Path(table).read_bytes())
    assert tables[0] == tables[1]


def test_reader_cli_and_json_export(workdir: Path) -> None:
    settings, plan = configure()
    run_all(settings, plan)
    from qcos.workflow.steps import write_plan

    write_plan(f"{plan.root}/plan.json", plan.manifest())
    results = Results.open(settings.experiment)
    assert [r.circuit_id for r in results.records()] == plan.ids
    assert sum(results.get("ghz-q3").counts.values()) == 200
    with pytest.raises(ResultsError, match="did you mean ghz-q3"):
        results.get("ghz-q33")
    assert results.export_json(workdir / "export") == 3
    exported = json.loads((workdir / "export" / "ghz-q3.json").read_text())
    assert exported["format"] == "qcos-counts/1" and exported["counts"] == dict(results.get("ghz-q3").counts)
    done = subprocess.run([sys.executable, "-m", "qcos", "results", settings.experiment, "ghz-q3"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and json.loads(done.stdout) == dict(results.get("ghz-q3").counts)
    done = subprocess.run([sys.executable, "-m", "qcos", "results", "nothing-here"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no result tables" in done.stderr


def test_raising_shots_of_a_one_chunk_circuit_adds_one_chunk(tmp_path: Path) -> None:
    """Cost-aware chunking keeps an ideal circuit in one chunk; raising its shots then adds one
    more chunk (one more simulation) instead of rerunning the whole circuit (issue 16, item 3)."""
    from qcos.providers.cluster import ClusterBuilder
    from qcos.qvm import DistributedQVM

    circuit = loads('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nbit[3] c;\nh q[0];\ncx q[0], q[1];\n'
                    'cx q[1], q[2];\nc = measure q;\n')
    path = tmp_path / "j.jsonl"

    def run(shots: int) -> tuple[list[int], ChunkJournal]:
        with ChunkJournal(path, [("ghz3", "sha")], {"noise": None}, extend=True) as journal, \
                ClusterBuilder().add("local_cpu").build() as registry:
            result = DistributedQVM(registry, seed=3, chunk_shots=1 << 20, progress=False).run_batch(
                [circuit], shots, keys=["ghz3"], store=journal)[0]
        assert sum(result.counts.values()) == shots
        return [c.shots for c in result.chunks], journal

    assert run(2048)[0] == [2048]
    chunks, journal = run(4096)
    assert chunks == [2048, 2048] and journal.reused == 1 and journal.written == 1
    chunks, journal = run(8192)
    assert chunks == [2048, 2048, 4096] and journal.reused == 2 and journal.written == 1
    chunks, journal = run(4096)  # back down: the 4,096-shot plan is all there
    assert chunks == [2048, 2048] and journal.written == 0
