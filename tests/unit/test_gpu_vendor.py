"""GPU errors name the fix for the machine's vendor: the ROCm container on AMD, qiskit-aer-gpu on NVIDIA."""

from __future__ import annotations

import pytest

from qcos.dispatch.slurm.task import ChunkRunner, ChunkSpec, GPUUnavailableError
from qcos.gpuvendor import AMD, NVIDIA, detect_vendor, install_hint
from qcos.qvm import aer


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


@pytest.mark.skipif(aer.gpu_status()[0], reason="this machine's Aer has GPU support")
@pytest.mark.parametrize(("vendor", "expected", "absent"), [
    ("amd", "envs/qcos-rocm.def", "qiskit-aer-gpu"), ("nvidia", "qiskit-aer-gpu", "ROCm")])
def test_a_gpu_task_on_a_cpu_only_aer_names_the_vendor_fix(vendor: str, expected: str, absent: str) -> None:
    qasm = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\nc[0] = measure q[0];\n'
    runner = ChunkRunner([ChunkSpec("k", "c0", qasm, 10, 1)], {"device": "GPU"}, None, gpu_vendor=vendor)
    with pytest.raises(GPUUnavailableError) as caught:
        runner()
    assert expected in str(caught.value) and absent not in str(caught.value)


def test_the_lumi_provider_declares_amd() -> None:
    from qcos.dispatch.slurm.provider import LumiAMDGPUProvider, SlurmProvider

    assert LumiAMDGPUProvider.GPU_VENDOR == AMD and SlurmProvider.GPU_VENDOR is None
