"""Checks against the cluster before any job: basis gates it can run and circuits no wider than its nodes."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from qcos.circuits.sweep import CircuitSpec
from qcos.exceptions import ConfigError

logger = logging.getLogger(__name__)

_QUBIT_DECL = re.compile(r"^\s*(?:qubit\s*(?:\[\s*(\d+)\s*\])?\s+\w+|qreg\s+\w+\s*\[\s*(\d+)\s*\])\s*;", re.MULTILINE)
#: instructions that are not gates but may appear in a basis list
_NON_GATES = {"measure", "reset", "barrier", "delay"}


@runtime_checkable
class _SizesNodes(Protocol):
    """A provider that knows how wide its nodes are when ``max_qubits`` is not given (the local ones)."""

    def default_max_qubits(self, method: str) -> int: ...


def simulator_gates() -> set[str]:
    """Gate names the cluster's simulators run: Aer's, which every built-in provider uses."""
    from qiskit.circuit.library import get_standard_gate_name_mapping
    from qiskit_aer import AerSimulator

    gates = set(get_standard_gate_name_mapping())
    try:
        gates |= set(AerSimulator().target.operation_names)
    except Exception as error:  # pragma: no cover - an Aer without a target
        logger.debug("Aer target unavailable: %s", error)
    return gates | _NON_GATES


def check_basis_gates(transpile: Mapping[str, Any], default: Sequence[str]) -> None:
    """Every ``transpile.basis_gates`` name is a gate the simulators run, and the set is universal enough."""
    names = list(transpile.get("basis_gates") or default)
    known = simulator_gates()
    for index, name in enumerate(names):
        if name not in known:
            from qiskit.circuit.library import get_standard_gate_name_mapping

            standard = sorted(set(get_standard_gate_name_mapping()) - {"global_phase"})
            raise ConfigError(f"config: transpile.basis_gates[{index}]: unknown gate {name!r}; the cluster's "
                              f"simulators run the standard gates: {', '.join(standard)}")
    from qiskit import QuantumCircuit
    from qiskit.transpiler import generate_preset_pass_manager

    probe = QuantumCircuit(2, 2)
    probe.h(0)
    probe.cx(0, 1)
    probe.rz(0.3, 1)
    probe.measure([0, 1], [0, 1])
    try:
        generate_preset_pass_manager(optimization_level=0, basis_gates=names).run(probe)
    except Exception as error:
        raise ConfigError(f"config: transpile.basis_gates: {names} cannot express h, cx and rz "
                          "(the basis is not universal); use e.g. [cx, rz, sx, x]") from error


def spec_width(spec: CircuitSpec, base_dir: Path | None = None) -> int | None:
    """A circuit's qubit count from its parameters (or its QASM file's declarations); None if unknown."""
    qubits = spec.params.get("qubits")
    if isinstance(qubits, int):
        return qubits
    path = spec.params.get("path")
    if not isinstance(path, str):
        return None
    try:
        text = (Path(base_dir or ".") / path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    sizes = [int(a or b or 1) for a, b in _QUBIT_DECL.findall(text)]
    return sum(sizes) if sizes else None


def cluster_max_qubits(entries: Sequence[Mapping[str, Any]]) -> tuple[int, str] | None:
    """The widest circuit any node of the cluster takes, and which entry; None when unknown."""
    from qcos.providers.cluster import accepted_arguments
    from qcos.providers.registry import NodeProviderRegistry

    best: tuple[int, str] | None = None
    for index, entry in enumerate(entries):
        name = str(entry.get("provider"))
        width = entry.get("max_qubits")
        if width is None:
            cls = NodeProviderRegistry.get(name)
            params = accepted_arguments(cls) or {}
            default = params["max_qubits"].default if "max_qubits" in params else None
            if isinstance(default, int):
                width = default
            elif issubclass(cls, _SizesNodes):
                width = cls().default_max_qubits(str(entry.get("method", "automatic")))
        if isinstance(width, int) and (best is None or width > best[0]):
            best = (width, f"cluster[{index}] ({name})")
    return best


def check_widths(specs: Sequence[CircuitSpec], entries: Sequence[Mapping[str, Any]],
                 base_dir: Path | None = None, widths: Mapping[str, int | None] | None = None) -> None:
    """Refuse circuits wider than every node of the cluster, naming them and the limit.

    ``widths`` (circuit id -> qubits, e.g. :attr:`Plan.spec_widths`) saves reading QASM files again.
    """
    limit = cluster_max_qubits(entries)
    if limit is None:
        return
    too_wide = [(spec.id, w) for spec in specs
                if (w := widths[spec.id] if widths is not None else spec_width(spec, base_dir)) is not None
                and w > limit[0]]
    if too_wide:
        listed = ", ".join(f"{cid} ({w} qubits)" for cid, w in too_wide[:5])
        more = f" and {len(too_wide) - 5} more" if len(too_wide) > 5 else ""
        raise ConfigError(f"config: circuits: {listed}{more} wider than any node of the cluster: "
                          f"{limit[1]} takes at most {limit[0]} qubits; narrow the sweep or raise max_qubits")


def check_against_cluster(config: Mapping[str, Any], specs: Sequence[CircuitSpec], default_basis: Sequence[str],
                          base_dir: Path | None = None, widths: Mapping[str, int | None] | None = None) -> None:
    """Both checks, at parse time: an error stops the run before any job."""
    check_basis_gates(config.get("transpile") or {}, default_basis)
    check_widths(specs, config["cluster"], base_dir, widths)
