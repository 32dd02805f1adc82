"""Chunk plans: how a circuit's shots are cut into chunks, from what a shot costs (never from the cluster).

Aer samples every shot of an ideal circuit whose measurements are all terminal from ONE
simulation, so splitting such a circuit only re-simulates the state: its shots stay in one
chunk (up to :data:`SAMPLED_MAX_CHUNK_SHOTS`). A circuit whose every shot is its own
simulation (a noise model with gate errors, mid-circuit measurement, reset, conditionals
and other control flow) or a method whose sampling costs per shot (matrix product state,
stabilizer) is cut into chunks of about half a second of one core's work, so idle nodes
share them. The plan depends on the circuit, the shots, ``chunk_shots`` and the run
options only; with the chunk seeds (:func:`qcos.circuits.seeds.derive_seed`, keyed by chunk
index) it fixes the counts whatever the cluster's shape.

Figures behind the thresholds (Aer 0.18, one core of the 2-core dev machine, under load):
ideal random circuits sample 65,536 shots in 69 ms (5 qubits), 107 ms (12), 624 ms (20);
1,000,000 shots take 1.5 s / 1.7 s / 8.1 s, mostly building the counts. With a
depolarizing noise model a shot costs 80 us (5 qubits, 34 gates), 0.9 ms (12, 59 gates),
23 ms (16, 107 gates): about 60 us + 3.5 ns per amplitude and gate. Matrix product state
sampling costs ~0.25 ms a shot (30-50 qubits), stabilizer ~33 us (50 qubits).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal

from qiskit import QuantumCircuit
from qiskit.circuit import CONTROL_FLOW_OP_NAMES

from qcos.checks import require_int
from qcos.circuits.seeds import split_shots
from qcos.exceptions import QcosError

logger = logging.getLogger(__name__)

#: The ``chunk_shots`` value that asks for the cost-aware plan (the default everywhere).
AUTO: Final = "auto"
ChunkShots = int | Literal["auto"]

#: Largest chunk of a sampled circuit: 262,144 shots sample in 0.4-2 s, about one
#: simulation of a 20-22-qubit circuit; beyond it idle nodes share the sampling.
SAMPLED_MAX_CHUNK_SHOTS: Final = 262_144
#: Work (amplitude x instruction updates) one per-shot chunk aims at: ~0.5 s of one core.
PER_SHOT_CHUNK_WORK: Final = 2**27
#: Fixed work of one trajectory shot (noise sampling, bookkeeping), in the same unit (~60 us).
PER_SHOT_OVERHEAD_WORK: Final = 2**14
#: Bounds of a per-shot chunk; powers of two so that plans of different shot counts share prefixes.
PER_SHOT_MIN_CHUNK_SHOTS: Final = 16
PER_SHOT_MAX_CHUNK_SHOTS: Final = 8_192
#: Methods whose sampling itself costs per shot: chunk sizes for ~0.5 s of one core.
METHOD_CHUNK_SHOTS: Final[Mapping[str, int]] = {
    "matrix_product_state": 2_048,
    "stabilizer": 16_384,
    "extended_stabilizer": 1_024,
}

#: Seconds of one core per amplitude x instruction update, and per sampled shot (measured, see above).
SECONDS_PER_WORK: Final = 3.5e-9
SECONDS_PER_SAMPLED_SHOT: Final = 2e-6

#: Instructions after which Aer can still sample all shots from one simulation.
_TERMINAL_SAFE = frozenset({"measure", "barrier", "delay"})
#: Instructions that make every shot a trajectory of its own.
_PER_SHOT_OPS = frozenset({"reset", "kraus", "superop", "quantum_channel", "store"})


class ShotCost(StrEnum):
    """What one more shot of a circuit costs."""

    EXPLICIT = "explicit"  # the user fixed chunk_shots; no estimate made
    SAMPLED = "sampled"  # one simulation, every shot sampled from it
    PER_SHOT = "per_shot"  # every shot is (or samples at the cost of) a simulation


@dataclass(frozen=True)
class ChunkPlan:
    """The chunk shot counts of one circuit, and why it was cut that way."""

    shots: tuple[int, ...]
    cost: ShotCost
    reason: str

    def __len__(self) -> int:
        return len(self.shots)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary for run records and result metadata."""
        return {"cost": self.cost.value, "reason": self.reason, "chunks": len(self.shots),
                "chunk_shots": max(self.shots) if self.shots else 0}


def plan_chunks(
    circuit: QuantumCircuit,
    shots: int,
    chunk_shots: ChunkShots = AUTO,
    options: Mapping[str, Any] | None = None,
) -> list[int]:
    """The shots of each chunk of ``circuit`` (in chunk-index order; they sum to ``shots``).

    ``chunk_shots``: ``"auto"`` (cost-aware, see the module docstring) or a positive
    integer (near-equal chunks of at most that many shots, as before ``"auto"``).
    ``options``: the run options; read are ``noise`` (a noise spec mapping or an Aer
    ``NoiseModel``), ``noise_model`` (an Aer ``NoiseModel``) and ``method`` (Aer's).
    Never pass anything about the cluster: the plan, hence the counts, must not depend on it.
    """
    return list(chunk_plan(circuit, shots, chunk_shots, options).shots)


def chunk_plan(
    circuit: QuantumCircuit,
    shots: int,
    chunk_shots: ChunkShots = AUTO,
    options: Mapping[str, Any] | None = None,
) -> ChunkPlan:
    """Like :func:`plan_chunks`, with the cost class and a one-line reason."""
    shots = _positive(shots, "shots")
    chunk_shots = parse_chunk_shots(chunk_shots)
    if chunk_shots != AUTO:
        return ChunkPlan(tuple(split_shots(shots, int(chunk_shots))), ShotCost.EXPLICIT,
                         f"chunk_shots={chunk_shots}")
    cost, reason, size = auto_chunk_shots(circuit, options)
    return ChunkPlan(tuple(fixed_chunks(shots, size)), cost, reason)


def extend_plan(
    previous: Sequence[int],
    circuit: QuantumCircuit,
    shots: int,
    chunk_shots: ChunkShots = AUTO,
    options: Mapping[str, Any] | None = None,
) -> list[int]:
    """A plan for ``shots`` that keeps the chunks of ``previous`` (done earlier) as its first chunks.

    For raising the shots of a finished run: the longest prefix of ``previous`` that fits
    in ``shots`` is kept (same chunk indices, hence the same seeds and counts), and the
    rest is planned as new chunks, e.g. ``[65536] -> [65536, 65536]`` for an ideal
    circuit at 131,072 shots: one more simulation, not a rerun.
    """
    shots = _positive(shots, "shots")
    kept: list[int] = []
    rest = shots
    for part in previous:
        if not 0 < int(part) <= rest:
            break
        kept.append(int(part))
        rest -= int(part)
    return kept + (plan_chunks(circuit, rest, chunk_shots, options) if rest else [])


def auto_chunk_shots(circuit: QuantumCircuit, options: Mapping[str, Any] | None = None) -> tuple[ShotCost, str, int]:
    """The cost class of ``circuit`` under ``options``, why, and its chunk size in shots."""
    options = options or {}
    method = str(options.get("method") or "automatic")
    if method in METHOD_CHUNK_SHOTS:
        return ShotCost.PER_SHOT, f"method {method} samples at a cost per shot", METHOD_CHUNK_SHOTS[method]
    why = per_shot_reason(circuit)
    if why is None and method not in ("density_matrix", "superop", "unitary"):
        why = noise_reason(options)
    if why is None:
        what = "density matrix" if method == "density_matrix" else "no gate noise"
        return ShotCost.SAMPLED, f"measurements terminal, {what}: one simulation", SAMPLED_MAX_CHUNK_SHOTS
    width = 2 * circuit.num_qubits if method == "density_matrix" else circuit.num_qubits
    work = PER_SHOT_OVERHEAD_WORK + (2 ** min(width, 62)) * max(1, _size(circuit))
    size = max(PER_SHOT_MIN_CHUNK_SHOTS, min(PER_SHOT_MAX_CHUNK_SHOTS, PER_SHOT_CHUNK_WORK // work))
    return ShotCost.PER_SHOT, why, 1 << (size.bit_length() - 1)  # a power of two


def chunk_work(circuit: QuantumCircuit, shots: int, options: Mapping[str, Any] | None = None) -> float:
    """Estimated seconds of one core for a chunk of ``shots`` shots (for sizing batches, never plans).

    A rough figure from the same model as the plan: one simulation plus sampling for a
    sampled circuit, one simulation per shot otherwise. Good to a factor of a few on CPUs.
    """
    cost, _, _ = auto_chunk_shots(circuit, options)
    method = str((options or {}).get("method") or "automatic")
    if method in METHOD_CHUNK_SHOTS:  # those sizes were chosen for ~0.5 s of one core
        return shots * 0.5 / METHOD_CHUNK_SHOTS[method]
    width: int = 2 * circuit.num_qubits if method == "density_matrix" else circuit.num_qubits
    simulation = (1 << min(width, 62)) * max(1, _size(circuit))
    if cost is ShotCost.SAMPLED:
        return simulation * SECONDS_PER_WORK + shots * SECONDS_PER_SAMPLED_SHOT
    return shots * (PER_SHOT_OVERHEAD_WORK + simulation) * SECONDS_PER_WORK


def per_shot_reason(circuit: QuantumCircuit) -> str | None:
    """Why a shot of ``circuit`` needs its own simulation (None: all shots sample from one)."""
    ops = circuit.count_ops()  # counted in Rust: the common cases never walk the circuit in Python
    if flow := sorted(CONTROL_FLOW_OP_NAMES & ops.keys()):
        return f"classical control flow ({flow[0]})"
    if special := sorted(_PER_SHOT_OPS & ops.keys()):
        return f"non-unitary instruction ({special[0]})"
    data, index, trailing = circuit.data, len(circuit.data) - 1, 0
    while index >= 0 and data[index].name in _TERMINAL_SAFE:  # the final block of measurements
        trailing += data[index].name == "measure"
        index -= 1
    if trailing == ops.get("measure", 0) and "initialize" not in ops:
        return None
    return _ordered_reason(circuit)


def _ordered_reason(circuit: QuantumCircuit) -> str | None:
    """The full walk: a measurement followed by another instruction on the same qubit."""
    measured: set[Any] = set()
    for instruction in circuit.data:  # .name without .operation: no Python gate objects built
        name = instruction.name
        if instruction.is_control_flow():  # Qiskit 2 has no c_if: conditions are if_else blocks
            return f"classical control flow ({name})"
        if name in _PER_SHOT_OPS:
            return f"non-unitary instruction ({name})"
        if name == "initialize" and any(q in measured for q in instruction.qubits):
            return "initialize after a measurement"
        if name == "measure":
            measured.update(instruction.qubits)
        elif name not in _TERMINAL_SAFE and any(q in measured for q in instruction.qubits):
            return f"mid-circuit measurement ({name} after a measure)"
    return None


def noise_reason(options: Mapping[str, Any]) -> str | None:
    """Why the noise in the run options makes shots trajectories (readout-only noise does not)."""
    for key in ("noise", "noise_model"):
        noise = options.get(key)
        if noise is None or (isinstance(noise, Mapping) and not noise):
            continue
        if isinstance(noise, Mapping):
            gate_noise = sorted(k for k, v in noise.items() if k != "readout" and v not in (None, {}, 0, 0.0))
            if gate_noise:
                return f"noise ({', '.join(gate_noise)})"
            continue
        if _has_gate_errors(noise):
            return f"noise model with gate errors ({key})"
    return None


def fixed_chunks(shots: int, size: int) -> list[int]:
    """``shots`` cut into chunks of ``size`` and a smaller last one: a plan for N shots is a
    prefix of the plan for more, so raising the shots keeps every full chunk."""
    full, rest = divmod(shots, size)
    return [size] * full + ([rest] if rest else [])


def parse_chunk_shots(value: object, where: str = "chunk_shots") -> ChunkShots:
    """``"auto"`` or a positive integer; anything else is a one-line error naming ``where``."""
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    return require_int(where, value, error=QcosError, what="'auto' or a positive integer")


def _has_gate_errors(noise: object) -> bool:
    to_dict = getattr(noise, "to_dict", None)
    if to_dict is None:
        return True  # an unknown noise object: assume it acts on gates
    errors = to_dict().get("errors", [])
    return any(error.get("type") != "roerror" for error in errors)


def _size(circuit: QuantumCircuit) -> int:
    total = 0
    for instruction in circuit.data:
        if instruction.is_control_flow():
            total += 1 + sum(_size(block) for block in instruction.operation.blocks)
        elif instruction.name not in ("barrier", "delay"):
            total += 1
    return total


def _positive(value: object, name: str) -> int:
    return require_int(name, value, error=QcosError)
