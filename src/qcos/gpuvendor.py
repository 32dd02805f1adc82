"""Which GPU vendor a machine has, so "no GPU support" errors give the fix that works there."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping

logger = logging.getLogger(__name__)

AMD, NVIDIA = "amd", "nvidia"
#: Slurm partitions of LUMI-G (AMD MI250X)
LUMI_GPU_PARTITIONS = frozenset({"small-g", "standard-g", "dev-g"})
#: the container recipe that builds qiskit-aer for ROCm (relative to the repository)
ROCM_RECIPE = "envs/qcos-rocm.def"


def detect_vendor(environ: Mapping[str, str] | None = None, root: str = "/") -> str | None:
    """``"amd"``, ``"nvidia"`` or None, from device files, the environment and vendor tools."""
    env = os.environ if environ is None else environ
    if env.get("SLURM_JOB_PARTITION") in LUMI_GPU_PARTITIONS:
        return AMD
    if any(env.get(name) for name in ("ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES")):
        return AMD
    if os.path.exists(os.path.join(root, "dev/kfd")):
        return AMD
    if env.get("CUDA_VISIBLE_DEVICES") not in (None, "", "-1", "NoDevFiles"):
        return NVIDIA
    if os.path.exists(os.path.join(root, "dev/nvidiactl")):
        return NVIDIA
    if shutil.which("rocm-smi") or shutil.which("rocminfo"):
        return AMD
    if shutil.which("nvidia-smi"):
        return NVIDIA
    return None


def install_hint(vendor: str | None = None) -> str:
    """What to do about an Aer without GPU support, for this vendor (detected when None)."""
    vendor = detect_vendor() if vendor is None else vendor
    rocm = (f"on AMD GPUs (ROCm, e.g. LUMI-G) there is no qiskit-aer wheel: run inside the ROCm container "
            f"built from {ROCM_RECIPE} (docs/lumi.md), which compiles qiskit-aer with "
            "-DAER_THRUST_BACKEND=ROCM")
    cuda = "on NVIDIA GPUs install the CUDA build with `pip install qiskit-aer-gpu`"
    if vendor == AMD:
        return rocm
    if vendor == NVIDIA:
        return cuda
    return f"{cuda}; {rocm}"
