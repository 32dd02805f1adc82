"""One noise spec for the whole system: validated once, built into an Aer NoiseModel anywhere.

A spec is a small mapping (the workflow's ``noise:`` block, ``DistributedQVM(noise=...)``,
the bridge's ``noise`` request field)::

    {"depolarizing": {"p1": 0.001, "p2": 0.01}, "readout": 0.02, "thermal": {"t1_us": 100, "t2_us": 80}}
    {"backend": "fake_sherbrooke"}          # a Qiskit fake device (needs qiskit-ibm-runtime)

Its canonical JSON form travels with every chunk (so each executor rebuilds the same
model) and its digest is part of the chunk identity and of provenance. Errors sit on the
gates of :data:`NOISE_BASIS` (``rz`` is virtual and error-free, as on IBM devices);
noisy circuits are compiled to that basis first, so a gate costs the same error on
every node.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from qcos.exceptions import ConfigError

logger = logging.getLogger(__name__)

#: Gates a noisy circuit is compiled to; errors act on the non-virtual ones.
NOISE_BASIS = ("rz", "sx", "x", "cx")
ONE_QUBIT_GATES = ("sx", "x")
TWO_QUBIT_GATES = ("cx",)
#: Gate durations (ns) that thermal relaxation uses unless the spec sets them.
DEFAULT_TIMES_NS = {"time_1q_ns": 50.0, "time_2q_ns": 300.0, "time_measure_ns": 1000.0}

_TOP_KEYS = ("depolarizing", "readout", "thermal", "backend")
_DEPOLARIZING_KEYS = ("p1", "p2")
_THERMAL_KEYS = ("t1_us", "t2_us", *DEFAULT_TIMES_NS)
#: The key under which chunk run options carry the canonical spec (workers, chunk plans).
RUN_OPTION_KEY = "noise"


@dataclass(frozen=True)
class NoiseSpec:
    """A validated noise spec; ``canonical`` is its JSON-able, key-sorted form."""

    canonical: Mapping[str, Any]

    @cached_property
    def digest(self) -> str:
        """16 hex digits of SHA-256 over the canonical JSON: the noise's identity."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:16]

    def to_json(self) -> str:
        return self._json

    @cached_property
    def _json(self) -> str:
        # Computed once: every run asks for the digest (simulator, pass manager and gate-set
        # caches) and an Aer NoiseModel's JSON is tens of kB (~2.5 ms to dump, ~5 ms to hash).
        return json.dumps(self.canonical, sort_keys=True, separators=(",", ":"))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.to_json())
        return data

    def describe(self) -> str:
        """A short human label, e.g. ``depolarizing p1=0.001 p2=0.01, readout 0.02``."""
        spec = self.canonical
        if "aer_noise_model" in spec:
            return f"Aer NoiseModel {self.digest}"
        if "backend" in spec:
            return f"device {spec['backend']}"
        parts = []
        if "depolarizing" in spec:
            parts.append("depolarizing " + " ".join(f"{k}={v:g}" for k, v in spec["depolarizing"].items()))
        if "readout" in spec:
            parts.append(f"readout {spec['readout']:g}")
        if "thermal" in spec:
            parts.append(f"T1={spec['thermal']['t1_us']:g}us T2={spec['thermal']['t2_us']:g}us")
        return ", ".join(parts)

    def build(self) -> Any:
        """The Aer ``NoiseModel`` this spec stands for (cached per process)."""
        return _build_cached(self.to_json())

    @property
    def basis_gates(self) -> list[str]:
        """The gates a circuit is compiled to before a noisy run (the model's own basis)."""
        if set(self.canonical) <= {"depolarizing", "readout", "thermal"}:
            return list(NOISE_BASIS)
        return [g for g in self.build().basis_gates if g not in ("id", "delay", "reset", "measure")]


def parse_noise(value: Any, *, where: str = "noise") -> NoiseSpec | None:
    """Validate a noise mapping (or NoiseSpec, Aer NoiseModel, None); one-line ConfigError naming the bad key."""
    if value is None or isinstance(value, NoiseSpec):
        return value
    if _is_noise_model(value):
        if value.is_ideal():
            return None
        return NoiseSpec({"aer_noise_model": _jsonable(value.to_dict(serializable=True), drop_ids=True)})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping like {{depolarizing: {{p1: 0.001, p2: 0.01}}, readout: 0.02}}"
                          f" or {{backend: fake_sherbrooke}}, got {value!r}")
    if not value:
        return None
    if set(value) == {"aer_noise_model"}:  # a NoiseModel's canonical form, as it travels
        if not isinstance(value["aer_noise_model"], Mapping):
            raise ConfigError(f"{where}.aer_noise_model: expected a NoiseModel.to_dict() mapping")
        return NoiseSpec({"aer_noise_model": _jsonable(value["aer_noise_model"])})
    _check_keys(value, _TOP_KEYS, where)
    if "backend" in value:
        if len(value) > 1:
            raise ConfigError(f"{where}: 'backend' takes the whole model from the device; drop "
                              f"{', '.join(repr(k) for k in value if k != 'backend')} or drop 'backend'")
        name = value["backend"]
        if not isinstance(name, str) or not name.startswith("fake_"):
            raise ConfigError(f"{where}.backend: expected a Qiskit fake device name like 'fake_sherbrooke', got {name!r}")
        return NoiseSpec({"backend": name})
    canonical: dict[str, Any] = {}
    if value.get("depolarizing") is not None:
        canonical["depolarizing"] = _depolarizing(value["depolarizing"], f"{where}.depolarizing")
    if value.get("readout") is not None:
        canonical["readout"] = _probability(value["readout"], f"{where}.readout")
    if value.get("thermal") is not None:
        canonical["thermal"] = _thermal(value["thermal"], f"{where}.thermal")
    canonical = {k: v for k, v in canonical.items() if v not in ({}, 0.0)}
    return NoiseSpec(canonical) if canonical else None


def noise_digest(spec: NoiseSpec | None) -> str:
    """The digest of a spec, ``""`` for ideal runs (so ideal identities stay as they were)."""
    return "" if spec is None else spec.digest


def _check_keys(value: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed keys: {', '.join(allowed)}")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: {value!r} is not a finite number")
    return float(value)


def _probability(value: Any, where: str) -> float:
    number = _number(value, where)
    if not 0.0 <= number <= 1.0:
        raise ConfigError(f"{where}: {number:g} is not a probability between 0 and 1")
    return number


def _depolarizing(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping like {{p1: 0.001, p2: 0.01}}, got {value!r}")
    _check_keys(value, _DEPOLARIZING_KEYS, where)
    out = {key: _probability(value[key], f"{where}.{key}") for key in _DEPOLARIZING_KEYS if value.get(key) is not None}
    # Aer accepts depolarizing parameters up to 4^n/(4^n-1) (fully depolarizing is 1.0 here)
    return {k: v for k, v in out.items() if v > 0.0}


def _thermal(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping like {{t1_us: 100, t2_us: 80}}, got {value!r}")
    _check_keys(value, _THERMAL_KEYS, where)
    for key in ("t1_us", "t2_us"):
        if value.get(key) is None:
            raise ConfigError(f"{where}: missing {key!r} (relaxation times in microseconds)")
    out = {key: _number(value[key], f"{where}.{key}") for key in _THERMAL_KEYS if value.get(key) is not None}
    for key, number in out.items():
        if number <= 0.0 and key in ("t1_us", "t2_us"):
            raise ConfigError(f"{where}.{key}: {number:g} must be positive")
        if number < 0.0:
            raise ConfigError(f"{where}.{key}: {number:g} must not be negative")
    if out["t2_us"] > 2 * out["t1_us"]:
        raise ConfigError(f"{where}.t2_us: {out['t2_us']:g} exceeds 2*t1_us = {2 * out['t1_us']:g}, which no qubit allows")
    return out


def _is_noise_model(value: Any) -> bool:
    try:
        from qiskit_aer.noise import NoiseModel
    except ImportError:  # pragma: no cover - Aer is a dependency
        return False
    return isinstance(value, NoiseModel)


def _jsonable(value: Any, *, drop_ids: bool = False) -> Any:
    """Plain JSON from NoiseModel.to_dict(serializable=True): no numpy scalars, and without the
    random error ids (``drop_ids``), so one model always has one digest."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, drop_ids=drop_ids) for k, v in value.items() if not (drop_ids and k == "id")}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, drop_ids=drop_ids) for v in value]
    if isinstance(value, complex):
        return [value.real, value.imag]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist(), drop_ids=drop_ids)
    return value


_MODELS: dict[str, Any] = {}


def _build_cached(text: str) -> Any:
    model = _MODELS.get(text)
    if model is None:
        model = _build(json.loads(text))
        _MODELS[text] = model
    return model


def _build(spec: Mapping[str, Any]) -> Any:
    from qiskit_aer.noise import NoiseModel

    if "aer_noise_model" in spec:
        with warnings.catch_warnings():  # deprecated in Aer 0.15 but still the only JSON reader
            warnings.simplefilter("ignore", DeprecationWarning)
            return NoiseModel.from_dict(spec["aer_noise_model"])
    if "backend" in spec:
        return _device_model(spec["backend"])
    from qiskit_aer.noise import ReadoutError, depolarizing_error, thermal_relaxation_error

    model = NoiseModel(basis_gates=list(NOISE_BASIS))
    one = two = None
    if "depolarizing" in spec:
        if spec["depolarizing"].get("p1"):
            one = depolarizing_error(spec["depolarizing"]["p1"], 1)
        if spec["depolarizing"].get("p2"):
            two = depolarizing_error(spec["depolarizing"]["p2"], 2)
    if "thermal" in spec:
        thermal = {**DEFAULT_TIMES_NS, **spec["thermal"]}
        t1, t2 = thermal["t1_us"] * 1e3, thermal["t2_us"] * 1e3  # ns, like the gate times

        def relax(time_ns: float) -> Any:
            return thermal_relaxation_error(t1, t2, time_ns)

        r1 = relax(thermal["time_1q_ns"])
        r2 = relax(thermal["time_2q_ns"]).tensor(relax(thermal["time_2q_ns"]))
        one = r1 if one is None else one.compose(r1)
        two = r2 if two is None else two.compose(r2)
        if thermal["time_measure_ns"] > 0:
            model.add_all_qubit_quantum_error(relax(thermal["time_measure_ns"]), ["measure"])
    if one is not None:
        model.add_all_qubit_quantum_error(one, list(ONE_QUBIT_GATES))
    if two is not None:
        model.add_all_qubit_quantum_error(two, list(TWO_QUBIT_GATES))
    if spec.get("readout"):
        p = spec["readout"]
        model.add_all_qubit_readout_error(ReadoutError([[1 - p, p], [p, 1 - p]]))
    return model


def _device_model(name: str) -> Any:
    try:
        from qiskit_ibm_runtime import fake_provider
    except ImportError as error:
        raise ConfigError(f"noise.backend: {name!r} needs the Qiskit fake devices: pip install 'qcos[devices]' "
                          "(qiskit-ibm-runtime)") from error
    class_name = "Fake" + "".join(part.capitalize() for part in name.removeprefix("fake_").split("_"))
    backend_cls = getattr(fake_provider, class_name, None) or getattr(fake_provider, class_name + "V2", None)
    if backend_cls is None:
        known = sorted(n for n in dir(fake_provider) if n.startswith("Fake") and not n.endswith("Provider"))
        raise ConfigError(f"noise.backend: unknown device {name!r}; known: "
                          f"{', '.join(_snake(n) for n in known[:40])}")
    from qiskit_aer.noise import NoiseModel

    return NoiseModel.from_backend(backend_cls())


def _snake(class_name: str) -> str:
    import re

    return "fake_" + re.sub(r"(?<!^)(?=[A-Z])", "_", class_name.removeprefix("Fake").removesuffix("V2")).lower()
