"""The dispatcher on submitit's DebugExecutor: grouping, retries, reuse, coalescing, progress."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sample_circuits import basis

from qcos.exceptions import NodeExecutionError
from qcos.providers.base import ShotTask
from qcos.providers.cluster import ClusterBuilder
from qcos.providers.slurm.executor import SlurmDispatcher
from qcos.providers.slurm.jobs import split_groups
from qcos.providers.slurm.settings import SlurmSettings
from qcos.qvm import DistributedQVM


def _tasks(n: int, shots: int = 50) -> list[ShotTask]:
    return [ShotTask(basis(i, 5), shots, 100 + i, i, 0) for i in range(n)]


def _expected(n: int, shots: int = 50) -> list[dict[str, int]]:
    return [{format(i % 32, "05b"): shots} for i in range(n)]


@pytest.fixture
def dispatcher(tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    overrides = getattr(request, "param", {})
    options = {"executor": "debug", "folder": str(tmp_path), "circuits_per_task": 10, "gather_s": 0.05}
    settings = SlurmSettings(**(options | overrides))
    instance = SlurmDispatcher(settings)
    yield instance
    instance.close()


def test_tasks_are_grouped_into_array_tasks(dispatcher: SlurmDispatcher) -> None:
    assert dispatcher.run(_tasks(35)) == _expected(35)
    stats = dispatcher.stats
    assert (stats.submissions, stats.array_tasks, stats.chunks_done) == (1, 4, 35)
    assert stats.sbatch_calls == 0  # not Slurm


def test_split_is_balanced_and_ordered() -> None:
    entries = [(None, i) for i in range(101)]
    groups = split_groups(entries, list(range(101)), 50)  # type: ignore[arg-type]
    assert [len(g.specs) for g in groups] == [34, 34, 33]
    assert [s for g in groups for s in g.specs] == list(range(101))
    assert split_groups([], [], 5) == []


def test_expensive_chunks_get_array_tasks_of_their_own() -> None:
    """Three wide one-chunk circuits run as three tasks at once; cheap ones stay in one task."""
    entries = [(None, i) for i in range(3)]
    wide = split_groups(entries, [0, 1, 2], 50, works=[600.0] * 3, slots=8)  # type: ignore[arg-type]
    assert [len(g.specs) for g in wide] == [1, 1, 1]
    assert len(split_groups(entries, [0, 1, 2], 50, works=[0.01] * 3, slots=8)) == 1  # type: ignore[arg-type]
    assert len(split_groups(entries, [0, 1, 2], 50, works=[600.0] * 3, slots=2)) == 2  # type: ignore[arg-type]
    many = [(None, i) for i in range(120)]
    assert len(split_groups(many, list(range(120)), 50, works=[1.0] * 120, slots=8)) == 3  # type: ignore[arg-type]


def test_chunk_work_estimates_follow_the_cost_of_a_shot() -> None:
    from qiskit.circuit.random import random_circuit

    from qcos.workers.chunking import chunk_work

    wide = random_circuit(28, 10, max_operands=2, measure=True, seed=1)
    assert chunk_work(wide, 65_536) > 60 > chunk_work(basis(3, 5), 65_536)
    assert chunk_work(basis(3, 5), 1000, {"method": "matrix_product_state"}) == pytest.approx(1000 * 0.5 / 2048)


def test_failed_task_is_retried_once(dispatcher: SlurmDispatcher, faults: Path) -> None:
    (faults / "fail-1").write_text("")
    assert dispatcher.run(_tasks(30)) == _expected(30)
    assert dispatcher.stats.retries == 1 and dispatcher.stats.array_tasks == 4


@pytest.mark.parametrize("dispatcher", [{"max_retries": 0}], indirect=True)
def test_retries_are_bounded_and_failures_stay_local(dispatcher: SlurmDispatcher, faults: Path) -> None:
    (faults / "fail-1").write_text("")
    outcomes = dispatcher.run(_tasks(30))
    failed = [i for i, o in enumerate(outcomes) if isinstance(o, Exception)]
    assert len(failed) == 10  # one array task of 10 chunks failed, no retry left; the rest kept their counts
    assert all(isinstance(outcomes[i], NodeExecutionError) and "injected" in str(outcomes[i]) for i in failed)
    assert all(outcomes[i] == _expected(30)[i] for i in range(30) if i not in failed)
    assert dispatcher.stats.retries == 0 and dispatcher.stats.chunks_failed == 10


@pytest.mark.parametrize("dispatcher", [{"aer_device": "GPU"}], indirect=True)
def test_missing_gpu_build_is_not_retried(dispatcher: SlurmDispatcher) -> None:
    from qcos.workers import simulator

    if simulator.gpu_status()[0]:
        pytest.skip("this machine has a GPU-enabled Aer")
    outcomes = dispatcher.run(_tasks(3))
    assert all(isinstance(o, NodeExecutionError) and "GPU" in str(o) for o in outcomes)
    assert dispatcher.stats.retries == 0


def test_second_run_reuses_finished_chunks(dispatcher: SlurmDispatcher) -> None:
    first = dispatcher.run(_tasks(20))
    submissions = dispatcher.stats.submissions
    assert dispatcher.run(_tasks(20)) == first
    assert dispatcher.stats.cache_hits == 20 and dispatcher.stats.submissions == submissions


def test_unseeded_chunks_are_never_reused(dispatcher: SlurmDispatcher) -> None:
    tasks = [ShotTask(basis(1, 5), 10, None, 0, 0)]
    dispatcher.run(tasks)
    dispatcher.run(tasks)
    assert dispatcher.stats.cache_hits == 0 and dispatcher.stats.submissions == 2


@pytest.mark.parametrize("dispatcher", [{"gather_s": 0.5}], indirect=True)
def test_concurrent_requests_share_one_submission(dispatcher: SlurmDispatcher) -> None:
    results: dict[int, list] = {}

    def call(k: int) -> None:
        results[k] = dispatcher.run(_tasks(8), node_id=f"slurm-{k}")

    threads = [threading.Thread(target=call, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(results[k] == _expected(8) for k in range(3))
    assert dispatcher.stats.submissions == 1  # 3 requests x 8 chunks -> one array of 3 tasks
    assert dispatcher.stats.array_tasks == 3


@pytest.mark.parametrize("dispatcher", [{"progress": True}], indirect=True)
def test_progress_bar_goes_to_stderr(dispatcher: SlurmDispatcher, capsys: pytest.CaptureFixture[str]) -> None:
    dispatcher.run(_tasks(5))
    captured = capsys.readouterr()
    assert "slurm qcos" in captured.err and captured.out == ""


def test_closed_dispatcher_refuses_work(dispatcher: SlurmDispatcher) -> None:
    dispatcher.close()
    with pytest.raises(Exception, match="closed"):
        dispatcher.run(_tasks(1))


def test_distributed_qvm_over_debug_slurm_nodes_and_local_cpu(tmp_path: Path) -> None:
    registry = (
        ClusterBuilder()
        .add("slurm", n_nodes=2, executor="debug", folder=str(tmp_path), circuits_per_task=8, gather_s=0.05)
        .add("local_cpu", n_nodes=1)
        .build()
    )
    with registry:
        batch = DistributedQVM(registry, shots=64, seed=5, progress=False).run_batch([basis(i, 5) for i in range(40)])
        slurm = registry.provider_for("slurm-0")
    assert [r.counts for r in batch] == _expected(40, 64)
    per_node = batch.per_node
    on_slurm = per_node["slurm-0"]["chunks"] + per_node["slurm-1"]["chunks"]
    assert on_slurm > 0 and on_slurm + per_node["local-cpu-0"]["chunks"] == 40
    assert slurm.stats["chunks_done"] == on_slurm


def test_slurm_nodes_reproduce_local_cpu_counts_for_the_same_seed(tmp_path: Path) -> None:
    """QASM export + chunk seeds: a Slurm task gives the counts the built-in executor gives."""
    from qiskit.circuit.random import random_circuit

    circuits = [random_circuit(5, 4, measure=True, seed=s) for s in range(4)]
    slurm = ClusterBuilder().add("slurm", n_nodes=2, executor="debug", folder=str(tmp_path), gather_s=0.05).build()
    local = ClusterBuilder().add("local_cpu", n_nodes=1).build()
    with slurm, local:
        on_slurm = DistributedQVM(slurm, shots=2000, seed=42, chunk_shots=1000, progress=False).run_batch(circuits)
        on_local = DistributedQVM(local, shots=2000, seed=42, chunk_shots=1000, progress=False).run_batch(circuits)
    assert [r.counts for r in on_slurm] == [r.counts for r in on_local]


def test_a_failure_that_no_retry_can_fix_is_not_retried_across_processes(tmp_path: Path) -> None:
    """On the local executor the task runs in another process: its typed decision survives the result pickle."""
    from qcos.workers import simulator

    if simulator.gpu_status()[0]:
        pytest.skip("this machine has a GPU-enabled Aer")
    settings = SlurmSettings(executor="local", folder=str(tmp_path), aer_device="GPU", gather_s=0.05,
                             circuits_per_task=10, max_retries=2)
    dispatcher = SlurmDispatcher(settings)
    try:
        outcomes = dispatcher.run(_tasks(3))
    finally:
        dispatcher.close()
    assert all(isinstance(o, NodeExecutionError) and "GPUUnavailableError" in str(o) for o in outcomes)
    assert dispatcher.stats.retries == 0 and dispatcher.stats.array_tasks == 1
