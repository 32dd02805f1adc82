"""What runs inside a Slurm array task: a chunk of circuits as QASM text in, counts out."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from submitit.helpers import Checkpointable

from qcos.counts import Counts
from qcos.exceptions import GPUUnavailableError, QcosError, RetryDecision, retry_decision
from qcos.providers.slurm.store import ResultStore, atomic_write_json

logger = logging.getLogger(__name__)

#: Test hook: a folder of marker files that make task attempts fail or hang (see _test_faults).
FAULTS_ENV = "QCOS_SLURM_TEST_FAULTS"


@dataclass(frozen=True)
class TaskFailure:
    """A task's qcos error, returned instead of raised so that its retry decision survives the trip.

    submitit brings a raised exception back as traceback text only; this plain object
    comes back through the result pickle as it is.
    """

    error: str
    retry: RetryDecision

    @classmethod
    def of(cls, error: QcosError) -> TaskFailure:
        return cls(f"{type(error).__name__}: {error}", retry_decision(error))

    def __str__(self) -> str:
        return self.error


def failure_retryable(failure: object) -> bool:
    """Whether running a failed task again may help: not when it reported a NEVER decision."""
    return not (isinstance(failure, TaskFailure) and failure.retry is RetryDecision.NEVER)


@dataclass(frozen=True)
class ChunkSpec:
    """One chunk of shots of one circuit, in the form a Slurm task receives it."""

    key: str
    label: str
    qasm: str
    shots: int
    seed: int | None
    #: canonical noise spec (JSON) the task rebuilds into an Aer NoiseModel; None = ideal
    noise: str | None = None


@dataclass
class ChunkRunner(Checkpointable):
    """Callable submitted as one array task; checkpointable, so a preempted task resumes.

    Results already computed travel with the checkpoint (submitit pickles ``self`` when
    Slurm preempts or times out the task and requeues it), and every chunk's counts are
    written atomically to the result store as soon as they exist.
    """

    chunks: list[ChunkSpec]
    aer_options: dict[str, Any]
    results_dir: str | None = None
    done: dict[int, Counts] = field(default_factory=dict)
    gpu_vendor: str | None = None  # "amd"/"nvidia": which fix a missing-GPU error names
    gcds: int = 1  # >1: a whole node; one worker process per GCD (standard-g)
    #: return a qcos error as a TaskFailure (the dispatcher's runners) instead of raising it
    report_failures: bool = False

    def __call__(self) -> list[Counts] | TaskFailure:
        try:
            return self.run()
        except QcosError as error:
            if not self.report_failures:
                raise
            logger.error("task %s failed: %s", self.chunks[0].label if self.chunks else "-", error)
            return TaskFailure.of(error)

    def run(self) -> list[Counts] | TaskFailure:
        """Every chunk's counts, in order; raises on the first chunk that fails (a GCD worker's: reported)."""
        from qcos.circuits.noise import parse_noise
        from qcos.circuits.qasm import loads
        from qcos.workers import simulator

        if str(self.aer_options.get("device", "CPU")).upper() == "GPU":
            available, why = simulator.gpu_status(self.gpu_vendor)
            if not available:
                raise GPUUnavailableError(
                    f"this task asks Aer for device='GPU' but {why}. Make the job's environment provide it "
                    "(setup lines, or python= the container's interpreter), or run on CPU with aer_device='CPU'."
                )
        truncate = _test_faults(self.chunks[0].label if self.chunks else "empty") == "truncate"
        todo = [i for i in range(len(self.chunks)) if i not in self.done]
        if self.gcds > 1 and len(todo) > 1:
            from qcos.providers.slurm.gcd import run_on_gcds

            results = run_on_gcds([self.chunks[i] for i in todo], self.aer_options, self.results_dir, self.gcds)
            if isinstance(results, TaskFailure):
                return results
            self.done.update(zip(todo, results, strict=True))
        store = ResultStore(self.results_dir) if self.results_dir else None
        prepared: dict[tuple[str, str | None], Any] = {}
        for index, chunk in enumerate(self.chunks):
            if index in self.done:
                continue
            noise = parse_noise(json.loads(chunk.noise)) if chunk.noise else None
            circuit = prepared.get((chunk.qasm, chunk.noise))
            if circuit is None:
                circuit = simulator.prepare(loads(chunk.qasm, source=chunk.label), self.aer_options, noise=noise)
                prepared[(chunk.qasm, chunk.noise)] = circuit
            counts = simulator.run_counts(circuit, chunk.shots, chunk.seed, self.aer_options, node_id=chunk.label,
                                    noise=noise)
            self.done[index] = counts
            if store is not None:
                store.write(chunk.key, counts, shots=chunk.shots, seed=chunk.seed, label=chunk.label,
                            job_id=_job_id())
        results = [self.done[i] for i in range(len(self.chunks))]
        if truncate:
            _exit_with_truncated_result(results)
        return results


def _job_id() -> str:
    array_id, task_id = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_id and task_id:
        return f"{array_id}_{task_id}"
    return os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_LOCAL_JOB_ID") or str(os.getpid())


def _exit_with_truncated_result(results: list[Counts]) -> None:
    """Test hook: leave half of the result pickle behind and exit 0, as a node dying mid-write would."""
    import pickle

    import submitit

    data = pickle.dumps(("success", results))
    path = submitit.JobEnvironment().paths.result_pickle
    with open(path, "wb") as handle:
        handle.write(data[: len(data) // 2])
    logging.shutdown()
    os._exit(0)


def _test_faults(label: str) -> str | None:
    """Test hook, inert unless ``$QCOS_SLURM_TEST_FAULTS`` names a folder; returns the fault to act on later.

    In that folder, a file ``fail-*`` makes the first task attempt that claims it raise,
    ``hang-*`` (content: seconds) makes it sleep, after writing ``running.<marker>.json``
    with its job id so that a test can scancel it, and ``truncate-*`` makes it leave a
    truncated result file and exit 0. Claiming is an atomic rename, so each marker fires once.
    """
    folder = os.environ.get(FAULTS_ENV)
    if not folder:
        return None
    for marker in sorted(Path(folder).glob("*-*")):
        kind = marker.name.split("-", 1)[0]
        if kind not in ("fail", "hang", "truncate"):
            continue
        claimed = marker.with_name(f"claimed.{marker.name}")
        try:
            os.rename(marker, claimed)
        except OSError:
            continue  # another task claimed it first
        if kind == "fail":
            raise RuntimeError(f"injected test failure ({marker.name}) in task {label}")
        if kind == "truncate":
            return kind
        seconds = float(claimed.read_text(encoding="utf-8").strip() or 60)
        atomic_write_json(Path(folder) / f"running.{marker.name}.json", {"job_id": _job_id(), "label": label})
        logger.warning("test hook: task %s hangs for %.0fs", label, seconds)
        time.sleep(seconds)
        return None
    return None
