"""What travels between a pool and its workers: chunks in, one outcome per chunk out."""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

logger = logging.getLogger(__name__)

#: Outcome codes. The first group comes from the worker, the second from the pool.
OK = "ok"
QASM = "qasm"  # the text is not valid OpenQASM, or is too large or too deeply nested to parse safely
CIRCUIT = "circuit"  # valid, but not runnable here: too wide, measures nothing, unbound parameters
SIMULATION = "simulation"  # Aer refused or failed on the circuit
MEMORY = "memory"  # the circuit needs more memory than a worker may use
TIMEOUT = "timeout"  # ran past the timeout; the worker was killed and replaced
CRASHED = "crashed"  # the worker died on it (once); it may be retried
POISON = "poison"  # the circuit killed a worker twice: it fails, the node is not to blame
NOT_RUN = "not_run"  # not run because the pool could not run it (closed, every worker down)

#: Version of the pool <-> worker messages; a worker from another qcos version refuses to start
#: (qcos upgraded under a running program) instead of failing every chunk.
PROTOCOL = 3

#: Codes that any healthy node would answer the same way for this circuit.
CIRCUIT_CAUSED = frozenset({QASM, POISON})

#: Bytes of memory per worker left for the interpreter, Qiskit and Aer themselves.
_OVERHEAD_MB = 1024
#: Smallest default cap: below this Qiskit alone does not fit.
_MIN_MEMORY_MB = 2048


@dataclass(frozen=True)
class ParameterTable:
    """The points of a parametric chunk: one row of values per point, columns named like the
    circuit's parameters (``str(parameter)``, unique within a circuit)."""

    names: tuple[str, ...]
    rows: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        if not self.rows:
            raise ValueError("a parameter table needs at least one point")
        width = len(self.names)
        bad = next((i for i, row in enumerate(self.rows) if len(row) != width), None)
        if bad is not None:
            raise ValueError(f"parameter table row {bad} has {len(self.rows[bad])} values for {width} parameters")

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, index: int) -> list[float]:
        """The values of parameter ``index`` over all points."""
        return [row[index] for row in self.rows]


@dataclass(frozen=True)
class Chunk:
    """One simulation: a circuit (OpenQASM text or QPY bytes), shots, seed and run options.

    ``options`` is an opaque mapping of run options passed to ``AerSimulator`` (``method``,
    ``device``, a noise model, ...): picklable, and JSON-able where it crosses HTTP. The
    pool never looks inside it; chunks that share one mapping object send it once.

    With ``parameters``, the circuit is parametric and the chunk runs it at every point of
    the table in one Aer call; point ``i`` gets seed ``seed + AER_SEED_STRIDE * i`` (what
    Aer gives the i-th experiment) and its own counts (:attr:`Outcome.points`).
    """

    circuit: str | bytes
    shots: int
    seed: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    parameters: ParameterTable | None = None

    @property
    def points(self) -> int:
        """Simulations this chunk stands for (1 unless parametric)."""
        return len(self.parameters) if self.parameters is not None else 1


@dataclass(frozen=True)
class Outcome:
    """Counts (``points``: one counts dict per point of a parametric chunk), or an error
    code with a one-line message."""

    code: str
    counts: dict[str, int] | None = None
    message: str = ""
    points: list[dict[str, int]] | None = None

    @property
    def ok(self) -> bool:
        return self.code == OK

    @property
    def circuit_caused(self) -> bool:
        """True when any node would fail this circuit the same way (do not retry elsewhere)."""
        return self.code in CIRCUIT_CAUSED


def host_memory_mb() -> int:
    """Physical memory of this machine in MiB (0 when unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 0


def default_memory_mb(n_workers: int, device: str = "CPU") -> int:
    """Address-space cap per worker: host RAM shared by the workers (0 = none on GPU,
    whose drivers reserve huge virtual ranges)."""
    if device.upper() == "GPU":
        return 0
    total = host_memory_mb()
    if total <= 0:
        return 0
    return max(_MIN_MEMORY_MB, total // max(1, n_workers))


def aer_memory_mb(cap_mb: int) -> int:
    """What Aer may plan for (``max_memory_mb``) inside a cap, leaving room for the interpreter."""
    return max(256, cap_mb - _OVERHEAD_MB)


@dataclass(frozen=True)
class WorkerConfig:
    """How worker processes are started and what they accept.

    ``base_options`` are Aer options every chunk starts from (a chunk's own options win);
    ``memory_mb`` caps each worker's address space (0: no cap); ``max_qubits`` refuses
    wider circuits before simulating (0: no limit).
    """

    base_options: Mapping[str, Any] = field(default_factory=dict)
    memory_mb: int = 0
    max_qubits: int = 0
    python: str = field(default_factory=lambda: sys.executable)
    startup_timeout_s: float = 180.0
    label: str = "aer"

    def payload(self, parent_pid: int) -> dict[str, Any]:
        return {"base_options": dict(self.base_options), "memory_mb": self.memory_mb,
                "max_qubits": self.max_qubits, "parent_pid": parent_pid, "protocol": PROTOCOL}


def qpy_bytes(circuit: QuantumCircuit) -> bytes:
    """A circuit as QPY bytes (the fastest exact form to ship to a worker: ~0.1 ms)."""
    from qiskit import qpy

    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return buffer.getvalue()
