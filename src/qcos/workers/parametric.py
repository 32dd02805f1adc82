"""One Aer call for many points of one parametric circuit, each point with its own fixed seed.

Why: a parameter sweep run point by point pays a serialisation, a message and an Aer
call per point. Aer's ``parameter_binds`` runs all points of a circuit in one call and
seeds its i-th experiment with ``seed_simulator + 2113 * i`` (Aer 0.18, checked on every
run). So if point ``p`` of a sweep is given seed ``base + 2113 * p``, a run of points
``a..b`` seeded with ``base + 2113 * a`` gives each point exactly the counts it gets alone
or in any other group: results do not depend on how points are grouped or where they run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

from qcos.circuits.noise import NoiseSpec
from qcos.circuits.seeds import SEED_MASK
from qcos.exceptions import NodeExecutionError
from qcos.workers import simulator
from qcos.workers.jobs import ParameterTable

logger = logging.getLogger(__name__)

#: The seed step between consecutive experiments of one Aer run (Aer's own rule).
AER_SEED_STRIDE = 2113


def point_seed(base: int, point: int) -> int:
    """The seed of point ``point`` of a sweep whose point 0 has seed ``base``, kept below 2**31."""
    return (base + AER_SEED_STRIDE * point) & SEED_MASK


def one_run(first_seed: int | None, points: int) -> bool:
    """Whether ``points`` consecutive points from one seeded with ``first_seed`` fit one Aer run
    (their seeds do not wrap at 2**31)."""
    return first_seed is None or first_seed + AER_SEED_STRIDE * (points - 1) <= SEED_MASK


def parameter_table(circuit: QuantumCircuit, rows: Any) -> ParameterTable:
    """A table for ``circuit`` from ``rows`` (points x parameters, in ``circuit.parameters`` order)."""
    names = tuple(str(p) for p in circuit.parameters)
    return ParameterTable(names, tuple(tuple(float(v) for v in row) for row in rows))


def run_points(circuit: QuantumCircuit, table: ParameterTable, shots: int, seed: int | None,
               options: Mapping[str, Any] | None = None, *, node_id: str = "aer",
               noise: NoiseSpec | None = None) -> list[simulator.SimCounts]:
    """Counts of ``circuit`` at every point of ``table``, point ``i`` seeded ``seed + 2113 * i``.

    ``circuit`` must be ready for Aer (see ``simulator.prepare``). One ``parameter_binds`` run;
    a point whose experiment Aer seeded otherwise (another Aer version) is rerun alone
    with its own seed, so the contract holds whatever Aer does.
    """
    if not one_run(seed, len(table)):
        raise ValueError(f"the seeds of {len(table)} points from {seed} pass 2**31: split the group")
    binds = _binds(circuit, table)
    run_options: dict[str, Any] = {"shots": int(shots)}
    if seed is not None:
        run_options["seed_simulator"] = int(seed)
    aer = simulator.simulator(options, noise)
    try:
        if binds is None:  # nothing to bind: the same circuit once per point
            result = aer.run([circuit] * len(table), **run_options).result()
        else:
            result = aer.run(circuit, parameter_binds=[binds], **run_options).result()
    except Exception as error:
        raise NodeExecutionError(node_id, f"Aer failed on {circuit.name!r} at {len(table)} points: {error}") from error
    if not result.success or len(result.results) != len(table):
        status = getattr(result, "status", "") or "simulation failed"
        raise NodeExecutionError(node_id, f"Aer failed on {circuit.name!r} at {len(table)} points: {status}")
    counts = []
    for index, experiment in enumerate(result.results):
        wanted = None if seed is None else seed + AER_SEED_STRIDE * index
        if wanted is not None and getattr(experiment, "seed_simulator", wanted) != wanted:
            logger.debug("Aer seeded point %d with %s, not %d: rerunning it alone", index,
                         experiment.seed_simulator, wanted)
            counts.append(simulator.run_counts(bind_row(circuit, table, index), shots, wanted, options,
                                         node_id=node_id, noise=noise))
            continue
        point = simulator.SimCounts(_counts(result, index))
        taken = getattr(experiment, "time_taken", None)
        point.sim_s = float(taken) if isinstance(taken, (int, float)) else None
        counts.append(point)
    return counts


def _counts(result: Any, index: int) -> dict[str, int]:
    """Experiment ``index``'s counts keyed as ``Result.get_counts`` keys them (bits, registers
    split by spaces), formatted in one pass: Qiskit's general formatter costs ~5 ms for a
    12-qubit point of 1,024 shots, more than the simulation."""
    experiment = result.results[index]
    header = experiment.header if isinstance(experiment.header, dict) else {}
    hex_counts = getattr(experiment.data, "counts", None)
    slots = header.get("memory_slots")
    if not isinstance(hex_counts, dict) or not isinstance(slots, int):
        return dict(result.get_counts(index))
    sizes = [int(size) for _, size in reversed(header.get("creg_sizes") or [])]
    counts: dict[str, int] = {}
    for key, value in hex_counts.items():
        bits = format(int(key, 16), f"0{slots}b")
        if len(sizes) > 1:
            at, parts = 0, []
            for size in sizes:
                parts.append(bits[at:at + size])
                at += size
            bits = " ".join(parts)
        counts[bits] = counts.get(bits, 0) + int(value)
    return counts


def _binds(circuit: QuantumCircuit, table: ParameterTable) -> dict[Parameter, list[float]] | None:
    """Aer's ``parameter_binds`` entry for ``table``; None when the circuit has no parameters."""
    by_name = {str(p): p for p in circuit.parameters}
    if set(by_name) != set(table.names):
        missing, extra = sorted(set(by_name) - set(table.names)), sorted(set(table.names) - set(by_name))
        raise ValueError(f"parameter table does not match the circuit: missing {missing}, unknown {extra}")
    if not by_name:
        return None
    return {by_name[name]: table.column(i) for i, name in enumerate(table.names)}


def bind_row(circuit: QuantumCircuit, table: ParameterTable, index: int) -> QuantumCircuit:
    """``circuit`` with point ``index`` of ``table`` bound (named ``name[index]``)."""
    by_name = {str(p): p for p in circuit.parameters}
    values = {by_name[name]: value for name, value in zip(table.names, table.rows[index], strict=True)}
    bound = circuit.assign_parameters(values, inplace=False) if values else circuit.copy()
    bound.name = f"{circuit.name}[{index}]"
    return bound
