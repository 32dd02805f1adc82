"""GPU errors name the fix for the machine's vendor: the ROCm container on AMD, qiskit-aer-gpu on NVIDIA."""

from __future__ import annotations

import pytest

from qcos.exceptions import GPUUnavailableError
from qcos.gpuvendor import AMD, NVIDIA, detect_vendor, install_hint
from qcos.providers.slurm.task import ChunkRunner, ChunkSpec
from qcos.workers import simulator


def test_vendor_from_the_environment_and_device_files(tmp_path) -> None:
    assert detect_vendor({"SLURM_JOB_PARTITION": "small-g"}, root=str(tmp_path)) == AMD
    assert detect_vendor({"ROCR_VISIBLE_DEVICES": "0"}, root=str(tmp_path)) == AMD
    assert detect_vendor({"CUDA_VISIBLE_DEVICES": "0"}, root=str(tmp_path)) == NVIDIA
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "kfd").touch()
    assert detect_vendor({}, root=str(tmp_path)) == AMD


def test_hints_are_vendor_correct() -> None:
    assert "qiskit-aer-gpu" not in install_hint(AMD) and "ROCm container" in install_hint(AMD)
    assert "qiskit-aer-gpu" in install_hint(NVIDIA) and "ROCm" not in install_hint(NVIDIA)
    both = install_hint("unknown")
    assert "qiskit-aer-gpu" in both and "ROCm" in both


@pytest.mark.skipif(simulator.gpu_status()[0], reason="this machine's Aer has GPU support")
@pytest.mark.parametrize(("vendor", "expected", "absent"), [
    ("amd", "envs/qcos-rocm.def", "qiskit-aer-gpu"), ("nvidia", "qiskit-aer-gpu", "ROCm")])
def test_a_gpu_task_on_a_cpu_only_aer_names_the_vendor_fix(vendor: str, expected: str, absent: str) -> None:
    qasm = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\nc[0] = measure q[0];\n'
    runner = ChunkRunner([ChunkSpec("k", "c0", qasm, 10, 1)], {"device": "GPU"}, None, gpu_vendor=vendor)
    with pytest.raises(GPUUnavailableError) as caught:
        runner()
    assert expected in str(caught.value) and absent not in str(caught.value)


def test_the_lumi_provider_declares_amd() -> None:
    from qcos.providers.lumi import LumiAMDGPUProvider
    from qcos.providers.slurm.provider import SlurmProvider

    assert LumiAMDGPUProvider.GPU_VENDOR == AMD and SlurmProvider.GPU_VENDOR is None


def test_a_whole_node_task_runs_one_worker_per_gcd_with_the_same_counts(tmp_path) -> None:
    """standard-g: 8 chunks over 4 'GCD' processes (CPU Aer here) equal the single-process run."""
    from qcos.providers.slurm.gcd import GCD_CORES, gcd_environment

    qasm = ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\n'
            'c = measure q;\n')
    chunks = [ChunkSpec(f"k{i}", f"c{i}", qasm, 100 + i, i) for i in range(8)]
    single = ChunkRunner(list(chunks), {"device": "CPU"}, None)()
    fanned = ChunkRunner(list(chunks), {"device": "CPU"}, str(tmp_path / "store"), gcds=4)()
    assert fanned == single and [sum(c.values()) for c in fanned] == [100 + i for i in range(8)]
    env = gcd_environment(3, {"HIP_VISIBLE_DEVICES": "0,1"})
    assert env["ROCR_VISIBLE_DEVICES"] == "3" and "HIP_VISIBLE_DEVICES" not in env
    assert env["QCOS_GCD_CORES"] == "25,26,27,28,29,30,31" and len(set().union(*GCD_CORES)) == 56
