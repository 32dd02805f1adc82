"""Merged counts from the cluster turned into what Qiskit's containers hold: shots, BitArrays, hex.

Why: nodes return counts (outcome -> number), while ``SamplerV2`` results and
``memory=True`` backend results are per shot. Counts are expanded into shots and put in
a seeded random order, so the order carries no information (a sorted order would bias
anyone who slices the first shots) and the same seed gives the same shots.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives.containers import BitArray

from qcos.circuits.seeds import derive_seed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisterSlot:
    """Where one classical register's bits sit among the circuit's clbits."""

    name: str
    num_bits: int
    start: int


def register_slots(circuit: QuantumCircuit) -> list[RegisterSlot]:
    """The circuit's registers, each as a contiguous run of clbits (as ``BackendSamplerV2`` reads them)."""
    return [
        RegisterSlot(creg.name, creg.size, circuit.find_bit(creg[0]).index if creg.size else 0)
        for creg in circuit.cregs
    ]


def outcome_bits(counts: Mapping[str, int], num_clbits: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct outcomes as a ``(n, num_clbits)`` uint8 matrix (column j = clbit j) and their counts.

    Keys may be bitstrings with register spaces (``"1 01"``), plain bitstrings or hex (``"0x5"``).
    """
    keys = list(counts)
    frequencies = np.fromiter(counts.values(), dtype=np.int64, count=len(keys))
    if num_clbits == 0:
        return np.zeros((len(keys), 0), dtype=np.uint8), frequencies
    joined = "".join(keys).replace(" ", "")
    uniform = len(set(map(len, keys))) <= 1
    if not uniform or len(joined) != len(keys) * num_clbits or "x" in joined:  # hex, short keys: one by one
        joined = "".join(_bitstring(key, num_clbits) for key in keys)
    digits = np.frombuffer(joined.encode("ascii", "replace"), dtype=np.uint8) - ord("0")
    if digits.size and digits.max() > 1:
        raise ValueError(f"counts keys must be bitstrings or hex, got {keys[:3]!r}")
    return digits.reshape(len(keys), num_clbits)[:, ::-1].copy(), frequencies


def _bitstring(key: str, num_clbits: int) -> str:
    text = key.replace(" ", "")
    if text.startswith("0x"):
        text = format(int(text, 16), "b")
    if len(text) > num_clbits:
        raise ValueError(f"outcome {key!r} has {len(text)} bits but the circuit has {num_clbits} clbits")
    return text.rjust(num_clbits, "0")


def shot_order_rng(run_seed: int, key: str) -> np.random.Generator:
    """The generator that orders the shots of the result ``key`` of the run seeded ``run_seed``."""
    return np.random.default_rng(derive_seed(run_seed, f"{key}/shot-order", 0))


def shot_bits(counts: Mapping[str, int], num_clbits: int, rng: np.random.Generator) -> np.ndarray:
    """One row per shot (``(shots, num_clbits)``, column j = clbit j) in a seeded random order."""
    rows, frequencies = outcome_bits(counts, num_clbits)
    shots = np.repeat(rows, frequencies, axis=0)
    return shots[rng.permutation(len(shots))]


def register_arrays(shots: np.ndarray, slots: list[RegisterSlot]) -> dict[str, np.ndarray]:
    """Packed big-endian bytes per register (``(shots, bytes)``), the layout ``BitArray`` holds."""
    arrays = {}
    for slot in slots:
        bits = shots[:, slot.start:slot.start + slot.num_bits][:, ::-1]  # last clbit first
        pad = -slot.num_bits % 8
        bits = np.pad(bits, ((0, 0), (pad, 0)))
        arrays[slot.name] = np.packbits(bits, axis=1, bitorder="big")
    return arrays


def stack_bitarrays(per_point: list[dict[str, np.ndarray]], slots: list[RegisterSlot],
                    shape: tuple[int, ...], shots: int) -> dict[str, BitArray]:
    """One ``BitArray`` of ``shape`` per register from the points' packed arrays (flat C order)."""
    result = {}
    for slot in slots:
        num_bytes = (slot.num_bits + 7) // 8
        data = np.zeros((len(per_point), shots, num_bytes), dtype=np.uint8)
        for index, arrays in enumerate(per_point):
            data[index] = arrays[slot.name]
        result[slot.name] = BitArray(data.reshape(shape + (shots, num_bytes)), slot.num_bits)
    return result


def hex_counts(counts: Mapping[str, int], num_clbits: int) -> dict[str, int]:
    """Counts keyed by hex (``"0x5"``), the form a Qiskit ``ExperimentResult`` stores."""
    merged: dict[str, int] = {}
    for key, value in counts.items():
        text = key.replace(" ", "")
        number = int(text, 16) if text.startswith("0x") else int(text or "0", 2)
        if number >> num_clbits:
            raise ValueError(f"outcome {key!r} does not fit the circuit's {num_clbits} clbits")
        merged[hex(number)] = merged.get(hex(number), 0) + int(value)
    return merged


def hex_memory(counts: Mapping[str, int], num_clbits: int, rng: np.random.Generator) -> list[str]:
    """Per-shot hex outcomes in a seeded random order (``memory=True``)."""
    hexed = hex_counts(counts, num_clbits)
    keys = list(hexed)
    shots = np.repeat(np.arange(len(keys)), [hexed[k] for k in keys])
    return [keys[i] for i in shots[rng.permutation(len(shots))]]
