"""The function a Slurm array task runs: QASM in, counts out, atomic result files, resume, faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from qiskit import QuantumCircuit

from qcos.circuits.qasm import dumps, loads
from qcos.exceptions import GPUUnavailableError
from qcos.providers.slurm.store import ResultStore, atomic_write_json, cache_key
from qcos.providers.slurm.task import FAULTS_ENV, ChunkRunner, ChunkSpec
from qcos.workers import simulator

OPTIONS = {"device": "CPU"}


def _ghz(n: int = 4) -> QuantumCircuit:
    circuit = QuantumCircuit(n, n, name="ghz")
    circuit.h(0)
    for q in range(1, n):
        circuit.cx(0, q)
    circuit.measure(range(n), range(n))
    return circuit


def _spec(qasm: str, shots: int, seed: int, label: str = "n/c0/k0") -> ChunkSpec:
    return ChunkSpec(cache_key(qasm, shots, seed, OPTIONS), label, qasm, shots, seed)


def test_runner_matches_aer_and_writes_each_result_atomically(tmp_path: Path) -> None:
    qasm = dumps(_ghz())
    specs = [_spec(qasm, 500, 11, "n/c0/k0"), _spec(qasm, 300, 12, "n/c0/k1")]
    counts = ChunkRunner(specs, dict(OPTIONS), str(tmp_path))()
    assert counts[0] == simulator.simulate(loads(qasm), 500, 11, OPTIONS)
    assert counts[1] == simulator.simulate(loads(qasm), 300, 12, OPTIONS)
    assert set(counts[0]) <= {"0000", "1111"} and sum(counts[1].values()) == 300
    store = ResultStore(tmp_path)
    assert store.read(specs[0].key, 500) == counts[0]
    payload = json.loads(store.path(specs[1].key).read_text())
    assert payload["seed"] == 12 and payload["label"] == "n/c0/k1"
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_checkpointed_runner_resumes_without_redoing_finished_chunks(tmp_path: Path) -> None:
    qasm = dumps(_ghz())
    runner = ChunkRunner([_spec(qasm, 100, 1), _spec(qasm, 100, 2)], dict(OPTIONS), None)
    runner.done[0] = {"0000": 100}  # as if computed before a preemption
    delayed = runner.checkpoint()
    resumed = delayed.function
    assert resumed is runner and resumed.done == {0: {"0000": 100}}
    counts = resumed()
    assert counts[0] == {"0000": 100}
    assert counts[1] == simulator.simulate(loads(qasm), 100, 2, OPTIONS)


def test_fault_marker_fails_exactly_one_attempt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    (faults / "fail-a").write_text("")
    monkeypatch.setenv(FAULTS_ENV, str(faults))
    runner = ChunkRunner([_spec(dumps(_ghz()), 10, 3)], dict(OPTIONS), None)
    with pytest.raises(RuntimeError, match="injected test failure"):
        runner()
    assert sum(runner()[0].values()) == 10
    assert (faults / "claimed.fail-a").exists()


def test_gpu_request_without_gpu_build_is_a_clear_error() -> None:
    available, _ = simulator.gpu_status()
    if available:
        pytest.skip("this machine has a GPU-enabled Aer")
    runner = ChunkRunner([_spec(dumps(_ghz()), 10, 3)], {"device": "GPU"}, None)
    with pytest.raises(GPUUnavailableError, match="aer_device='CPU'"):
        runner()


def test_store_ignores_wrong_shot_totals_and_garbage(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.write("ab" * 32, {"0": 7})
    assert store.read("ab" * 32, 7) == {"0": 7}
    assert store.read("ab" * 32, 8) is None
    atomic_write_json(store.path("cd" * 32), {"nope": 1})
    assert store.read("cd" * 32) is None
    assert store.read("ef" * 32) is None


def test_cache_key_depends_on_everything_that_changes_counts() -> None:
    base = cache_key("qasm", 100, 1, OPTIONS)
    assert base == cache_key("qasm", 100, 1, dict(OPTIONS))
    assert len({base, cache_key("qasm2", 100, 1, OPTIONS), cache_key("qasm", 101, 1, OPTIONS),
                cache_key("qasm", 100, 2, OPTIONS), cache_key("qasm", 100, 1, {"device": "GPU"})}) == 5


def test_store_rechecks_key_and_content_digest_on_reuse(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, key, other = ResultStore(tmp_path), "ab" * 32, "cd" * 32
    store.write(key, {"00": 5, "11": 3})
    assert store.read(key, 8) == {"00": 5, "11": 3}
    payload = json.loads(store.path(key).read_text())
    assert payload["key"] == key and len(payload["digest"]) == 64
    tampered = dict(payload, counts={"00": 3, "11": 5})  # same total: only the digest can tell
    atomic_write_json(store.path(key), tampered)
    assert store.read(key, 8) is None
    assert "content digest does not match" in caplog.text
    atomic_write_json(store.path(other), payload)  # a valid file copied under another chunk's name
    assert store.read(other, 8) is None
    atomic_write_json(store.path(key), {"counts": {"00": 8}})  # written before digests existed: recomputed
    assert store.read(key, 8) is None


def test_slurm_folders_are_created_private_and_unsafe_ones_refused(tmp_path: Path) -> None:
    import os
    import stat

    from qcos.exceptions import SlurmConfigError
    from qcos.providers.slurm.folders import private_folder

    made = private_folder(tmp_path / "a" / "jobs", "Slurm jobs folder")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    for mode in (0o777, 0o775, 0o1777):
        os.chmod(shared, mode)
        with pytest.raises(SlurmConfigError, match=rf"Slurm folder {shared} has mode {mode:04o}.*chmod go-w"):
            private_folder(shared, "Slurm folder")
    os.chmod(shared, 0o755)
    assert private_folder(shared) == shared
    foreign = Path("/usr")  # a folder of another user: root's, or, when we are root, nobody's
    if os.getuid() == 0:
        foreign = tmp_path / "foreign"
        foreign.mkdir(mode=0o700)
        os.chown(foreign, 65534, 65534)
    with pytest.raises(SlurmConfigError, match=rf"Slurm folder {foreign} is owned by .*uid \d+\), not by you"):
        private_folder(foreign, "Slurm folder")


def test_noisy_chunks_rebuild_the_noise_model_in_the_task(tmp_path: Path) -> None:
    from qcos.circuits.noise import parse_noise

    noise = parse_noise({"depolarizing": {"p1": 0.01, "p2": 0.1}, "readout": 0.05})
    qasm = dumps(simulator.prepare(_ghz(), None, noise=noise))
    spec = ChunkSpec(cache_key(qasm, 800, 5, {**OPTIONS, "noise": noise.digest}), "n/c0/k0", qasm, 800, 5,
                     noise.to_json())
    counts = ChunkRunner([spec], dict(OPTIONS), str(tmp_path))()[0]
    assert counts == simulator.simulate(loads(qasm), 800, 5, OPTIONS, noise=noise)
    assert len(counts) > 2  # noise reaches outcomes an ideal GHZ never gives
    assert ChunkRunner([_spec(qasm, 800, 5)], dict(OPTIONS), None)()[0] != counts


def test_a_reporting_runner_returns_qcos_errors_with_their_retry_decision(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pickle

    from qcos.exceptions import RetryDecision
    from qcos.providers.slurm.task import TaskFailure, failure_retryable

    bad = ChunkSpec("k", "bad", "OPENQASM 3.0;\nqubit[2] q;\nfoo q[0];\n", 10, 1)
    with pytest.raises(Exception, match="foo"):
        ChunkRunner([bad], {"device": "CPU"})()
    failure = ChunkRunner([bad], {"device": "CPU"}, report_failures=True)()
    assert isinstance(failure, TaskFailure) and failure.retry is RetryDecision.NEVER
    assert "QasmError" in str(failure) and not failure_retryable(failure)
    back = pickle.loads(pickle.dumps(failure))  # as it comes back from another process
    assert back == failure and not failure_retryable(back)
    assert failure_retryable("RuntimeError: a node died")
