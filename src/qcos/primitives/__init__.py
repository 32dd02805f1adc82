"""Qiskit's own interfaces over a qcos cluster: SamplerV2, EstimatorV2 and a BackendV2."""

from __future__ import annotations

from qcos.primitives.backend import QcosBackend
from qcos.primitives.estimator import Estimator
from qcos.primitives.job import QcosJob
from qcos.primitives.sampler import Sampler

__all__ = ["Estimator", "QcosBackend", "QcosJob", "Sampler"]
