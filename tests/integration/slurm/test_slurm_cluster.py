"""DistributedQVM on ``slurm`` nodes: real Slurm job arrays (and the same path on the LocalExecutor)."""

from __future__ import annotations

import _thread
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from helpers import wait_for
from helpers.services import SlurmService
from sample_circuits import basis as basis_circuit
from slurm_helpers import expected, running_job_id, sacct_rows, slurm_kwargs

from qcos.exceptions import ClusterBuildError
from qcos.providers.cluster import ClusterBuilder
from qcos.qvm import DistributedQVM

SHOTS = 200


def _run(registry, circuits, seed: int = 1234):  # type: ignore[no-untyped-def]
    return DistributedQVM(registry, shots=SHOTS, seed=seed, progress=False).run_batch(circuits)


def _assert_exact(batch, n: int) -> None:  # type: ignore[no-untyped-def]
    assert len(batch) == n
    for index, result in enumerate(batch):
        assert result.counts == expected(index, SHOTS), (index, result.counts)
        assert result.shots == SHOTS


def _cancel(kind: str, job_id: str) -> None:
    """scancel on Slurm; on the LocalExecutor, what LocalJob.cancel() does (SIGINT to its controller)."""
    if kind == "slurm":
        subprocess.run(["scancel", job_id], check=True, timeout=30)
    else:
        os.kill(int(job_id), signal.SIGINT)


def test_batch_of_circuits_runs_as_job_arrays(executor_kind: str, tmp_path: Path) -> None:
    kwargs = slurm_kwargs(executor_kind, tmp_path, n_nodes=4)
    with ClusterBuilder().add("slurm", **kwargs).build() as registry:
        assert [node.node_id for node in registry.nodes] == [f"slurm-{i}" for i in range(4)]
        batch = _run(registry, [basis_circuit(i) for i in range(240)])
        _assert_exact(batch, 240)
        stats = registry.providers[0].stats
    # 240 circuits at 50 per task: 5 array tasks in one job array (not 240 jobs); the
    # LocalExecutor has no array throttle, so the dispatcher submits n_nodes at a time
    assert stats["array_tasks"] == 5
    assert stats["submissions"] == (1 if executor_kind == "slurm" else 2)
    assert stats["chunks_done"] == 240
    if executor_kind == "slurm":
        assert stats["sbatch_calls"] == 1
        rows = sacct_rows(str(kwargs["job_name"]), 5)
        assert len(rows) == 5, rows
        array_ids = {job_id.split("_")[0] for job_id, _ in rows}
        assert array_ids == set(stats["job_ids"]) and len(array_ids) == 1, rows
        assert all("_" in job_id for job_id, _ in rows), f"expected array tasks, got {rows}"
        assert all(state == "COMPLETED" for _, state in rows), rows


@pytest.mark.parametrize("fault", ["fail-1", "truncate-1"], ids=["task-raises", "result-file-truncated"])
def test_failed_task_is_retried_and_others_keep_results(
    executor_kind: str, tmp_path: Path, faults: Path, fault: str
) -> None:
    """A task that raises, or leaves half a result pickle (node died mid-write), is retried alone;
    the other tasks' results are kept and the run never hangs."""
    (faults / fault).write_text("")
    kwargs = slurm_kwargs(executor_kind, tmp_path / "run", n_nodes=2, circuits_per_task=20)
    with ClusterBuilder().add("slurm", **kwargs).build() as registry:
        batch = _run(registry, [basis_circuit(i) for i in range(60)])
        stats = registry.providers[0].stats
    _assert_exact(batch, 60)
    assert (faults / f"claimed.{fault}").exists()
    assert stats["retries"] == 1
    assert stats["array_tasks"] == 3 + 1  # only the failed task ran again
    assert stats["chunks_done"] == 60 and stats["chunks_failed"] == 0


def test_world_writable_slurm_folder_is_refused(executor_kind: str, tmp_path: Path) -> None:
    kwargs = slurm_kwargs(executor_kind, tmp_path / "run")
    folder = Path(str(kwargs["folder"]))
    (folder / "jobs").mkdir(parents=True)
    os.chmod(folder / "jobs", 0o777)
    with pytest.raises(ClusterBuildError, match=r"jobs folder .*/jobs has mode 0777: other users can write"):
        ClusterBuilder().add("slurm", **kwargs).build()
    assert not list((folder / "jobs").iterdir()), "nothing may be written into it"


def test_cancelled_task_is_resubmitted_and_run_completes(
    executor_kind: str, tmp_path: Path, faults: Path, sigint_handler: None
) -> None:
    (faults / "hang-1").write_text("120")
    kwargs = slurm_kwargs(executor_kind, tmp_path / "run", n_nodes=2, circuits_per_task=20)
    with ClusterBuilder().add("slurm", **kwargs).build() as registry:
        killer = threading.Thread(target=lambda: _cancel(executor_kind, running_job_id(faults)), daemon=True)
        killer.start()
        batch = _run(registry, [basis_circuit(i) for i in range(60)])
        killer.join(timeout=5)
        stats = registry.providers[0].stats
    _assert_exact(batch, 60)
    assert stats["cancel_resubmits"] + stats["retries"] == 1
    if executor_kind == "slurm":
        assert stats["cancel_resubmits"] == 1
        assert stats["sbatch_calls"] == 2


def test_ctrl_c_cancels_submitted_jobs_and_keeps_finished_results(
    executor_kind: str, tmp_path: Path, faults: Path, sigint_handler: None
) -> None:
    (faults / "hang-1").write_text("280")  # hangs until cancelled: the others have that long to finish
    circuits = [basis_circuit(i) for i in range(60)]
    kwargs = slurm_kwargs(executor_kind, tmp_path / "run", n_nodes=3, circuits_per_task=20)
    registry = ClusterBuilder().add("slurm", **kwargs).build()
    provider = registry.providers[0]
    tasks_done = threading.Event()

    def interrupt_when_others_finished() -> None:
        job_id = running_job_id(faults)
        try:  # the two other array tasks finish while the third hangs
            wait_for(lambda: provider.stats["chunks_done"] >= 40, 240.0, "the two other array tasks to finish",
                     interval_s=0.1)
            tasks_done.set()
        finally:
            _thread.interrupt_main()  # also after a timeout, so the test fails instead of waiting out the hang
        assert job_id

    threading.Thread(target=interrupt_when_others_finished, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            provider.dispatcher.run(_tasks(circuits, seed=99), "slurm-0")
        assert tasks_done.is_set()
        assert provider.dispatcher.live_job_ids() == []
        if executor_kind == "slurm":
            rows = sacct_rows(str(kwargs["job_name"]), 3)
            states = sorted(state.split()[0] for _, state in rows)
            assert states == ["CANCELLED", "COMPLETED", "COMPLETED"], rows
        # a second run with the same seed reuses the 40 finished chunks and runs only the rest
        outcomes = provider.dispatcher.run(_tasks(circuits, seed=99), "slurm-0")
        assert outcomes == [expected(i, SHOTS) for i in range(60)]
        assert provider.stats["cache_hits"] == 40
    finally:
        registry.close()


def _tasks(circuits, seed: int):  # type: ignore[no-untyped-def]
    from qcos.providers.base import ShotTask

    return [ShotTask(circuit, SHOTS, seed + i, i, 0) for i, circuit in enumerate(circuits)]


def _no_steps_left(job_id: str) -> bool:
    """True once Slurm lists no step of ``job_id`` (its cancelled attempt has fully ended)."""
    return not subprocess.run(["squeue", "-h", "-s", "-j", job_id], capture_output=True, text=True,
                              timeout=30).stdout.strip()


@pytest.mark.slurm
def test_preempted_task_is_requeued_and_completes(slurm_service: SlurmService, tmp_path: Path, faults: Path) -> None:
    """submitit's Checkpointable path: USR2 (preemption) -> checkpoint -> scontrol requeue -> rerun."""
    (faults / "hang-1").write_text("120")
    kwargs = slurm_kwargs("slurm", tmp_path / "run", n_nodes=2, circuits_per_task=20)
    requeued = threading.Event()
    with ClusterBuilder().add("slurm", **kwargs).build() as registry:
        def preempt() -> None:
            job_id = running_job_id(faults)
            threading.Event().wait(1.0)  # let submitit install its signal handlers
            subprocess.run(["scancel", "--signal=USR2", job_id], check=True, timeout=30)
            for _ in range(300):  # requeued jobs wait ~2 min before they are eligible: release it now
                state = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True,
                                       text=True, timeout=30).stdout.strip()
                if state == "PENDING":
                    requeued.set()
                    # Release it only once the first attempt's step is gone: a rerun started while
                    # srun still waits for the cancelled step fails at once (then only a retry saves it).
                    wait_for(lambda: _no_steps_left(job_id), what=f"the end of {job_id}'s first attempt")
                    subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], timeout=30)
                    return
                threading.Event().wait(0.2)

        thread = threading.Thread(target=preempt, daemon=True)
        thread.start()
        batch = _run(registry, [basis_circuit(i) for i in range(40)])
        thread.join(timeout=60)
        stats = registry.providers[0].stats
    assert requeued.is_set(), "the preempted array task was never requeued (it only ran out its hang)"
    _assert_exact(batch, 40)
    assert stats["sbatch_calls"] == 1 and stats["retries"] == 0 and stats["cancel_resubmits"] == 0


@pytest.mark.slurm
def test_unknown_partition_fails_fast_naming_it(slurm_service: SlurmService, tmp_path: Path) -> None:
    kwargs = slurm_kwargs("slurm", tmp_path, partition="no-such-partition")
    with pytest.raises(ClusterBuildError) as info:
        ClusterBuilder().add("slurm", **kwargs).build()
    message = str(info.value)
    assert "no-such-partition" in message
    assert "invalid partition" in message.lower()
    assert not list((tmp_path / "jobs").glob("*_submitted.pkl")), "nothing may be submitted"


@pytest.mark.slurm
def test_submission_rejected_by_slurm_reports_sbatch_error(slurm_service: SlurmService, tmp_path: Path) -> None:
    """Without the build-time check, the sbatch error still surfaces, naming the partition."""
    kwargs = slurm_kwargs("slurm", tmp_path, partition="no-such-partition", validate=False, max_retries=0)
    with ClusterBuilder().add("slurm", **kwargs).build() as registry:
        outcomes = registry.providers[0].execute_batch(_tasks([basis_circuit(1)], seed=1), registry.nodes[0])
    assert isinstance(outcomes[0], Exception)
    assert "no-such-partition" in str(outcomes[0]) and "invalid partition" in str(outcomes[0]).lower()


def test_ctrl_c_during_a_qvm_run_cancels_jobs_when_the_registry_closes(
    executor_kind: str, tmp_path: Path, faults: Path, sigint_handler: None
) -> None:
    (faults / "hang-1").write_text("120")
    kwargs = slurm_kwargs(executor_kind, tmp_path / "run", n_nodes=2, circuits_per_task=10)
    threading.Thread(target=lambda: (running_job_id(faults), _thread.interrupt_main()), daemon=True).start()
    with pytest.raises(KeyboardInterrupt), ClusterBuilder().add("slurm", **kwargs).build() as registry:
        provider = registry.providers[0]
        _run(registry, [basis_circuit(i) for i in range(20)])
    assert provider.dispatcher.live_job_ids() == []
    if executor_kind == "slurm":
        rows = sacct_rows(str(kwargs["job_name"]), 2)
        assert any(state.startswith("CANCELLED") for _, state in rows), rows


@pytest.mark.slurm
def test_more_tasks_than_max_array_size_are_split_into_several_arrays(tmp_path: Path, slurm_service: SlurmService) -> None:
    """max_array_size=2 stands for a site's MaxArraySize: 5 tasks become arrays of 2, 2 and 1."""
    kwargs = slurm_kwargs("slurm", tmp_path, n_nodes=2, circuits_per_task=8, max_array_size=2)
    with ClusterBuilder().add("slurm", **kwargs).build() as registry:
        batch = _run(registry, [basis_circuit(i) for i in range(40)])
        stats = registry.providers[0].stats
    _assert_exact(batch, 40)
    assert stats["array_tasks"] == 5 and stats["sbatch_calls"] == 3
    assert len(set(stats["job_ids"])) == 3
