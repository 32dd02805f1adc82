"""Circuit families a sweep can name: what parameters each takes and how it builds a circuit."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from qiskit import QuantumCircuit

from qcos.circuits.seeds import derive_seed
from qcos.exceptions import ConfigError

logger = logging.getLogger(__name__)

Builder = Callable[[Mapping[str, Any], int], QuantumCircuit]


@dataclass(frozen=True)
class Param:
    """One parameter of a family.

    ``kind`` is ``int``, ``float`` or ``str``; ``sweep`` says whether a list (or a
    ``{linspace: ...}`` / ``{range: ...}`` mapping) expands into several circuits;
    ``tag`` is the short prefix the value carries in a circuit id (``q`` for qubits).
    """

    kind: str
    tag: str = ""
    required: bool = True
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    sweep: bool = True
    help: str = ""


@dataclass(frozen=True)
class Family:
    """A named circuit family: its parameters (in id order) and its builder."""

    name: str
    params: Mapping[str, Param]
    build: Builder
    description: str = ""
    #: keys that configure expansion only and never reach the builder (random: instances)
    expansion_keys: tuple[str, ...] = field(default=())

    def allowed_keys(self) -> list[str]:
        return ["family", *self.params]


# -- builders ---------------------------------------------------------------------
def build_ghz(params: Mapping[str, Any], seed: int) -> QuantumCircuit:
    """|0...0> + |1...1> over ``qubits`` qubits, measured."""
    n = int(params["qubits"])
    circuit = QuantumCircuit(n)
    circuit.h(0)
    for i in range(n - 1):
        circuit.cx(i, i + 1)
    circuit.measure_all()
    return circuit


def build_qft(params: Mapping[str, Any], seed: int) -> QuantumCircuit:
    """The quantum Fourier transform of the basis state |0101...>, measured."""
    from qiskit.circuit.library import QFTGate

    n = int(params["qubits"])
    circuit = QuantumCircuit(n)
    for i in range(0, n, 2):
        circuit.x(i)
    circuit.append(QFTGate(n), range(n))
    circuit.measure_all()
    return circuit


def build_random(params: Mapping[str, Any], seed: int) -> QuantumCircuit:
    """Layers of random gates on ``qubits`` qubits, ``depth`` layers deep.

    In each layer the qubits are shuffled into pairs and each pair gets a two-qubit gate
    (cx, cz or rzz) with probability ``density``; every qubit left over gets a random
    single-qubit gate. ``density`` 0.5 puts about half the qubits of a layer into
    entangling gates; 0 gives product states, 1 a brickwork of two-qubit gates. Unlike
    Qiskit's ``random_circuit``, the number of two-qubit gates does not collapse after
    transpiling (expected two-qubit gates: ``depth * floor(qubits/2) * density``).
    """
    import numpy as np

    n, depth = int(params["qubits"]), int(params["depth"])
    density = 0.5 if params.get("density") is None else float(params["density"])
    rng = np.random.default_rng(seed)
    circuit = QuantumCircuit(n)
    for _ in range(depth):
        order = [int(q) for q in rng.permutation(n)]
        busy: set[int] = set()
        for a, b in zip(order[0::2], order[1::2], strict=False):
            if rng.random() < density:
                kind = int(rng.integers(3))
                if kind == 0:
                    circuit.cx(a, b)
                elif kind == 1:
                    circuit.cz(a, b)
                else:
                    circuit.rzz(float(rng.uniform(0, 2 * math.pi)), a, b)
                busy.update((a, b))
        for q in range(n):
            if q not in busy:
                theta, phi, lam = (float(x) for x in rng.uniform(0, 2 * math.pi, 3))
                circuit.u(theta, phi, lam, q)
    circuit.measure_all()
    return circuit


def build_qv(params: Mapping[str, Any], seed: int) -> QuantumCircuit:
    """A quantum-volume model circuit (Qiskit's ``QuantumVolume``): ``depth`` layers of
    random SU(4) blocks on random qubit pairs; ``depth`` defaults to ``qubits`` (square)."""
    from qiskit.circuit.library import QuantumVolume

    n = int(params["qubits"])
    depth = int(params.get("depth") or n)
    circuit = QuantumCircuit(n)
    circuit.compose(QuantumVolume(n, depth, seed=seed).decompose(), inplace=True)
    circuit.measure_all()
    return circuit


def build_qaoa_ring(params: Mapping[str, Any], seed: int) -> QuantumCircuit:
    """A MaxCut QAOA ansatz on a ring of ``qubits`` nodes with angles ``gamma``, ``beta``."""
    return qaoa_ring_ansatz(params, float(params["gamma"]), float(params["beta"]))


def qaoa_ring_ansatz(params: Mapping[str, Any], gamma: Any, beta: Any) -> QuantumCircuit:
    """The ring MaxCut ansatz, measured; ``gamma``/``beta`` are numbers or circuit Parameters."""
    n = int(params["qubits"])
    layers = int(params.get("layers") or 1)
    edges = [(i, (i + 1) % n) for i in range(n)] if n > 2 else [(0, 1)]
    circuit = QuantumCircuit(n)
    circuit.h(range(n))
    for _ in range(layers):
        for a, b in edges:
            circuit.rzz(2 * gamma, a, b)
        circuit.rx(2 * beta, range(n))
    circuit.measure_all()
    return circuit


def build_qasm(params: Mapping[str, Any], seed: int) -> QuantumCircuit:
    """A user's OpenQASM 2/3 file; measured as written (``measure_all`` when it measures nothing)."""
    from qcos.circuits.qasm import load_file

    circuit = load_file(params["path"])
    if circuit.num_clbits == 0:
        circuit.measure_all()
    return circuit


_QUBITS = Param("int", "q", minimum=1, help="number of qubits")


def _instances(help: str) -> Param:
    """The ``instances`` key of a seeded family: circuits per sweep point (expansion only, never swept)."""
    return Param("int", "i", required=False, default=1, minimum=1, sweep=False, help=help)

_FAMILIES: dict[str, Family] = {
    "ghz": Family("ghz", {"qubits": _QUBITS}, build_ghz, "GHZ state preparation"),
    "qft": Family("qft", {"qubits": _QUBITS}, build_qft, "quantum Fourier transform"),
    "random": Family(
        "random",
        {
            "qubits": _QUBITS,
            "depth": Param("int", "d", minimum=1, help="layers of random gates"),
            "density": Param("float", "x", required=False, default=0.5, minimum=0.0, maximum=1.0,
                             help="probability that a qubit pair of a layer gets a two-qubit gate (0-1)"),
            "instances": _instances("independent random circuits per point"),
        },
        build_random,
        "seeded layered random circuits with a two-qubit gate density",
        expansion_keys=("instances",),
    ),
    "qv": Family(
        "qv",
        {
            "qubits": Param("int", "q", minimum=2, help="width (and default depth) of the model circuit"),
            "depth": Param("int", "d", required=False, default=None, minimum=1,
                           help="layers of SU(4) blocks (default: qubits, the square QV circuit)"),
            "instances": _instances("independent model circuits per point (QV needs many, e.g. 100)"),
        },
        build_qv,
        "quantum-volume model circuits",
        expansion_keys=("instances",),
    ),
    "qaoa_ring": Family(
        "qaoa_ring",
        {
            "qubits": Param("int", "q", minimum=2, help="ring size"),
            "gamma": Param("float", "g", help="cost angle"),
            "beta": Param("float", "b", help="mixer angle"),
            "layers": Param("int", "p", required=False, default=1, minimum=1, help="QAOA layers"),
        },
        build_qaoa_ring,
        "MaxCut QAOA on a ring",
    ),
    "qasm": Family(
        "qasm",
        {"path": Param("str", "", sweep=False, help="glob of OpenQASM files, relative to the working directory")},
        build_qasm,
        "user-supplied OpenQASM files",
    ),
}

#: Read-only view of the known families.
FAMILIES: Mapping[str, Family] = MappingProxyType(_FAMILIES)


def get_family(name: str, *, where: str = "family") -> Family:
    """The family called ``name``; a ConfigError listing the known ones otherwise."""
    family = FAMILIES.get(name) if isinstance(name, str) else None
    if family is None:
        raise ConfigError(f"{where}: unknown family {name!r}; known families: {', '.join(sorted(FAMILIES))}")
    return family


def build_circuit(family: str, params: Mapping[str, Any], circuit_id: str, seed: int) -> QuantumCircuit:
    """Build one circuit of a sweep; its name is its id and randomness comes from (seed, id)."""
    circuit = get_family(family).build(params, derive_seed(seed, circuit_id))
    circuit.name = circuit_id
    return circuit


def format_value(value: Any) -> str:
    """How a parameter value appears in an id: ints plainly, floats with up to 6 significant digits."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6g}"
    return str(value)
