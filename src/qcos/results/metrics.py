"""What a physicist reads off one circuit's counts: fidelity next to what sampling alone allows,
the expected MaxCut of a QAOA point, the heavy-output probability of a QV circuit.

Every function takes plain values (counts, the circuit, the family's parameters), so the
same numbers come out whatever stores the results. Values computed from the ideal
distribution need a statevector and are skipped above ``max_qubits``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from qiskit import QuantumCircuit

from qcos.results.fidelity import ideal_distribution

logger = logging.getLogger(__name__)

#: Multinomial draws behind the ideal-sampler reference (its Monte-Carlo error is ~1e-3).
SAMPLER_DRAWS = 200
#: Field names :func:`circuit_metrics` returns (all optional; None when not computable).
METRIC_FIELDS = (
    "hellinger_fidelity", "fidelity_ideal_sampler", "fidelity_ideal_sampler_low",
    "expected_cut", "expected_cut_exact", "heavy_output_probability", "heavy_output_ideal",
)


def ring_edges(n: int) -> list[tuple[int, int]]:
    """The edges of the ``qaoa_ring`` graph (one edge for two nodes)."""
    return [(i, (i + 1) % n) for i in range(n)] if n > 2 else [(0, 1)]


def cut_value(bits: str, edges: list[tuple[int, int]]) -> int:
    """Edges cut by an outcome (Qiskit's order: qubit 0 is the rightmost character)."""
    bits = bits.replace(" ", "")
    width = len(bits)
    return sum(1 for a, b in edges if bits[width - 1 - a] != bits[width - 1 - b])


def expected_cut(distribution: Mapping[str, float], edges: list[tuple[int, int]]) -> float:
    """Mean cut value of counts or probabilities (normalised here)."""
    total = float(sum(distribution.values()))
    if total <= 0:
        return float("nan")
    return sum(weight * cut_value(bits, edges) for bits, weight in distribution.items()) / total


def hellinger(counts: Mapping[str, int], ideal: Mapping[str, float]) -> float:
    """Hellinger fidelity (Bhattacharyya coefficient squared), as Qiskit's ``hellinger_fidelity``."""
    shots = float(sum(counts.values()))
    overlap = sum(np.sqrt(ideal.get(k.replace(" ", ""), 0.0) * v / shots) for k, v in counts.items())
    return float(overlap) ** 2


def ideal_sampler_fidelity(ideal: Mapping[str, float], shots: int, key: str,
                           draws: int = SAMPLER_DRAWS) -> tuple[float, float]:
    """Mean and 2.5 % quantile of the Hellinger fidelity a perfect sampler reaches at ``shots``.

    Finite shots alone keep fidelity below 1 (a 10-qubit random circuit at 1,024 shots
    reaches only ~0.8); a measured value below the low quantile is more than sampling.
    Seeded from ``key`` (the circuit id), so the summary stays byte-identical.
    """
    probabilities = np.fromiter(ideal.values(), dtype=float)
    probabilities = probabilities / probabilities.sum()
    seed = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    rng = np.random.default_rng(seed)
    samples = rng.multinomial(int(shots), probabilities, size=draws) / float(shots)
    values = np.sqrt(samples * probabilities).sum(axis=1) ** 2
    return float(values.mean()), float(np.quantile(values, 0.025))


def heavy_outputs(ideal: Mapping[str, float]) -> set[str]:
    """Outcomes whose ideal probability exceeds the median over all 2^n outcomes (QV's definition)."""
    width = len(next(iter(ideal)))
    values = np.zeros(2**width)
    for bits, p in ideal.items():
        values[int(bits, 2)] = p
    median = float(np.median(values))
    return {bits for bits, p in ideal.items() if p > median}


def circuit_metrics(circuit: QuantumCircuit | None, family: str, params: Mapping[str, Any],
                    counts: Mapping[str, int], *, circuit_id: str, max_qubits: int = 20) -> dict[str, Any]:
    """Every metric of :data:`METRIC_FIELDS` for one circuit (None where it does not apply)."""
    out: dict[str, Any] = dict.fromkeys(METRIC_FIELDS)
    shots = int(sum(counts.values()))
    if family == "qaoa_ring" and shots:
        edges = ring_edges(int(params["qubits"]))
        out["expected_cut"] = round(expected_cut(counts, edges), 6)
    if circuit is None or circuit.num_qubits > max_qubits or not shots:
        return out
    ideal = ideal_distribution(circuit)
    if ideal is None:
        return out
    out["hellinger_fidelity"] = round(hellinger(counts, ideal), 6)
    mean, low = ideal_sampler_fidelity(ideal, shots, circuit_id)
    out["fidelity_ideal_sampler"], out["fidelity_ideal_sampler_low"] = round(mean, 6), round(low, 6)
    if family == "qaoa_ring":
        out["expected_cut_exact"] = round(expected_cut(ideal, ring_edges(int(params["qubits"]))), 6)
    if family == "qv":
        heavy = heavy_outputs(ideal)
        out["heavy_output_probability"] = round(sum(v for k, v in counts.items() if k.replace(" ", "") in heavy) / shots, 6)
        out["heavy_output_ideal"] = round(sum(ideal[k] for k in heavy), 6)
    return out
