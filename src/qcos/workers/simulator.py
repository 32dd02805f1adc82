"""The built-in Aer executor: cached simulators and pass managers, one seeded run per chunk.

Why one ``run`` per chunk: Aer derives the seeds of a batched run as
``seed_simulator + 2113*i``, so a batch cannot carry independent per-chunk seeds, and
counts must not depend on how chunks happen to be grouped. A single-circuit run costs
about 1.7 ms against 1.0 ms inside a batch on a 5-qubit circuit, which the benchmark in
``bench/`` keeps in view.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from qiskit import QuantumCircuit
from qiskit.transpiler import PassManager
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager
from qiskit_aer import AerSimulator

from qcos.circuits.noise import NoiseSpec, noise_digest
from qcos.exceptions import NodeExecutionError, ProviderError

logger = logging.getLogger(__name__)



class SimCounts(dict[str, int]):
    """Counts plus ``sim_s``: Aer's own time for the experiment (no start-up, parsing or transfer)."""

    sim_s: float | None = None

#: Instructions Aer needs no translation for beyond its target's gate set.
_DIRECTIVES = frozenset({"measure", "barrier", "reset", "delay", "store"})

#: simulator options as sorted ``(name, value key)`` pairs: hashable, equal for equal options
OptionsKey = tuple[tuple[str, str], ...]

_lock = threading.Lock()
_simulators: dict[tuple[OptionsKey, str], AerSimulator] = {}
_pass_managers: dict[tuple[OptionsKey, int, str], PassManager] = {}
_native_ops: dict[tuple[OptionsKey, str], frozenset[str]] = {}


def options_key(options: Mapping[str, Any] | None) -> OptionsKey:
    """A hashable key for a set of simulator options (the 'target' of a transpile)."""
    return tuple(sorted((str(k), _value_key(v)) for k, v in (options or {}).items()))


def _value_key(value: Any) -> str:
    """``repr`` for plain values; a content digest for objects such as a NoiseModel, whose
    ``repr`` lists its instructions but not its error rates (two models would share a simulator)."""
    to_dict = getattr(value, "to_dict", None)
    if to_dict is None or isinstance(value, (str, bytes, int, float, bool, tuple, list, dict)):
        return repr(value)
    try:
        data = to_dict(serializable=True)
    except TypeError:
        data = to_dict()
    if isinstance(data, dict) and isinstance(data.get("errors"), list):  # NoiseModel: drop random error ids
        data = {**data, "errors": [{k: v for k, v in e.items() if k != "id"} if isinstance(e, dict) else e
                                   for e in data["errors"]]}
    text = json.dumps(data, sort_keys=True, default=repr)
    return f"{type(value).__name__}:{hashlib.blake2b(text.encode(), digest_size=12).hexdigest()}"


def option_names() -> frozenset[str]:
    """The names of AerSimulator's run options."""
    return frozenset(AerSimulator._default_options().__dict__)


def validate_options(options: Mapping[str, Any], *, where: str = "aer_options") -> dict[str, Any]:
    """Check option names against AerSimulator's, listing the valid ones on error."""
    valid = option_names()
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ProviderError(
            f"{where}: unknown Aer option(s) {unknown}; valid options are: {', '.join(sorted(valid))}"
        )
    return dict(options)


def simulator(options: Mapping[str, Any] | None = None, noise: NoiseSpec | None = None) -> AerSimulator:
    """A shared AerSimulator for these options and noise (creating one costs ~10 ms)."""
    key = (options_key(options), noise_digest(noise))
    with _lock:
        sim = _simulators.get(key)
    if sim is None:
        extra = {"noise_model": noise.build()} if noise is not None else {}
        sim = AerSimulator(**dict(options or {}), **extra)
        with _lock:
            sim = _simulators.setdefault(key, sim)
    return sim


def pass_manager(options: Mapping[str, Any] | None = None, optimization_level: int = 1,
                 noise: NoiseSpec | None = None) -> PassManager:
    """A reused preset pass manager for the simulator target (``transpile()`` rebuilds one: ~100 ms).

    With noise, circuits compile to the noise model's basis, so every gate carries its error.
    """
    key = (options_key(options), optimization_level, noise_digest(noise))
    with _lock:
        manager = _pass_managers.get(key)
    if manager is None:
        if noise is not None:
            manager = generate_preset_pass_manager(
                optimization_level=optimization_level, basis_gates=noise.basis_gates, seed_transpiler=0
            )
        else:
            manager = generate_preset_pass_manager(optimization_level=optimization_level, backend=simulator(options))
        with _lock:
            manager = _pass_managers.setdefault(key, manager)
    return manager


def _native(options: Mapping[str, Any] | None, noise: NoiseSpec | None = None) -> frozenset[str]:
    key = (options_key(options), noise_digest(noise))
    with _lock:
        names = _native_ops.get(key)
    if names is None:
        if noise is not None:
            names = frozenset(noise.basis_gates) | _DIRECTIVES
        else:
            names = frozenset(simulator(options).target.operation_names) | _DIRECTIVES
        with _lock:
            _native_ops[key] = names
    return names


def prepare(circuit: QuantumCircuit, options: Mapping[str, Any] | None = None,
            optimization_level: int = 1, noise: NoiseSpec | None = None) -> QuantumCircuit:
    """Return ``circuit`` ready for Aer: as is when every instruction is native, else transpiled."""
    native = _native(options, noise)
    if all(name in native for name in circuit.count_ops()):
        return circuit
    return pass_manager(options, optimization_level, noise).run(circuit)


def run_counts(circuit: QuantumCircuit, shots: int, seed: int | None = None,
               options: Mapping[str, Any] | None = None, *, node_id: str = "aer",
               noise: NoiseSpec | None = None) -> SimCounts:
    """Run one prepared circuit; its counts (keys as Qiskit formats them) carry Aer's time as ``sim_s``."""
    run_options: dict[str, Any] = {"shots": int(shots)}
    if seed is not None:
        run_options["seed_simulator"] = int(seed)
    try:
        result = simulator(options, noise).run(circuit, **run_options).result()
    except Exception as error:
        raise NodeExecutionError(node_id, f"Aer failed on {circuit.name!r}: {error}") from error
    if not result.success:
        status = getattr(result, "status", "") or "simulation failed"
        raise NodeExecutionError(node_id, f"Aer failed on {circuit.name!r}: {status}")
    counts = SimCounts(result.get_counts(0))
    taken = getattr(result.results[0], "time_taken", None) if result.results else None
    counts.sim_s = float(taken) if isinstance(taken, (int, float)) else None
    return counts


def simulate(circuit: QuantumCircuit, shots: int, seed: int | None = None,
             options: Mapping[str, Any] | None = None, noise: NoiseSpec | None = None) -> SimCounts:
    """Prepare and run: the one call bridges, Slurm tasks and fallbacks use."""
    return run_counts(prepare(circuit, options, noise=noise), shots, seed, options, noise=noise)


def gpu_status(vendor: str | None = None) -> tuple[bool, str]:
    """Whether Aer can use a GPU here, and why not when it cannot (with the fix for ``vendor``,
    ``"amd"`` or ``"nvidia"``; detected from this machine when None)."""
    from qcos.gpuvendor import install_hint

    try:
        devices = AerSimulator().available_devices()
    except Exception as error:  # pragma: no cover - broken installs
        return False, f"Aer cannot list devices: {error}"
    if "GPU" not in devices:
        return False, (
            "this qiskit-aer build has no GPU support (available devices: "
            f"{', '.join(devices)}); {install_hint(vendor)}"
        )
    return True, "GPU available"


def threads_per_node(n_nodes: int) -> int:
    """Share the machine's cores between concurrently running local nodes."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, n_nodes))
