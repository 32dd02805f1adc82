"""Expand config sweep entries into circuit specs with stable, readable ids."""

from __future__ import annotations

import glob
import itertools
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qcos.checks import is_int
from qcos.circuits.families import Family, Param, format_value, get_family
from qcos.exceptions import ConfigError

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
#: a circuit id: safe in file names, Snakemake patterns and CSV cells
ID_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class CircuitSpec:
    """One circuit of a sweep: its id, family, the builder's parameters and its sweep entry."""

    id: str
    family: str
    params: Mapping[str, Any] = field(hash=False)
    entry: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "family": self.family, "params": dict(self.params), "entry": self.entry}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CircuitSpec:
        return cls(str(data["id"]), str(data["family"]), dict(data["params"]), int(data.get("entry", 0)))


def expand_values(value: Any, param: Param, where: str) -> list[Any]:
    """The values one parameter takes: a scalar, a list, ``{linspace: [a, b, n]}`` or ``{range: [a, b, step]}``."""
    if isinstance(value, Mapping):
        if not param.sweep:
            raise ConfigError(f"{where}: takes a single value, not a mapping")
        return _expand_mapping(value, param, where)
    if isinstance(value, (list, tuple)):
        if not param.sweep:
            raise ConfigError(f"{where}: takes a single value, not a list")
        if not value:
            raise ConfigError(f"{where}: the list is empty; give at least one value")
        values = [_check_scalar(v, param, f"{where}[{i}]") for i, v in enumerate(value)]
    else:
        values = [_check_scalar(value, param, where)]
    seen: set[Any] = set()
    unique = []
    for v in values:
        if v not in seen:
            seen.add(v)
            unique.append(v)
    return unique


def _expand_mapping(value: Mapping[str, Any], param: Param, where: str) -> list[Any]:
    if len(value) != 1 or next(iter(value)) not in ("linspace", "range"):
        raise ConfigError(f"{where}: a mapping must be {{linspace: [start, stop, num]}} or {{range: [start, stop, step]}}, got {dict(value)!r}")
    kind, args = next(iter(value.items()))
    if not isinstance(args, (list, tuple)) or not all(_is_number(a) for a in args):
        raise ConfigError(f"{where}.{kind}: expected a list of numbers, got {args!r}")
    if kind == "linspace":
        if param.kind != "float":
            raise ConfigError(f"{where}.linspace: only float parameters take linspace; use a list or range")
        if len(args) != 3 or not float(args[2]).is_integer() or args[2] < 1:
            raise ConfigError(f"{where}.linspace: expected [start, stop, num] with num a positive integer, got {list(args)!r}")
        start, stop, num = float(args[0]), float(args[1]), int(args[2])
        points = [start] if num == 1 else [start + (stop - start) * i / (num - 1) for i in range(num)]
        values = [round(p, 12) + 0.0 for p in points]
    else:
        if len(args) not in (2, 3):
            raise ConfigError(f"{where}.range: expected [start, stop] or [start, stop, step], got {list(args)!r}")
        if param.kind == "int" and not all(float(a).is_integer() for a in args):
            raise ConfigError(f"{where}.range: this parameter takes integers, got {list(args)!r}")
        start, stop = args[0], args[1]
        step = args[2] if len(args) == 3 else 1
        if step == 0:
            raise ConfigError(f"{where}.range: step must not be 0")
        if param.kind == "int":
            values = list(range(int(start), int(stop), int(step)))
        else:
            values = _float_range(float(start), float(stop), float(step))
    if not values:
        raise ConfigError(f"{where}.{kind}: {list(args)!r} gives no values")
    return [_check_scalar(v, param, f"{where}.{kind}") for v in values]


def _float_range(start: float, stop: float, step: float) -> list[float]:
    """Python's ``range`` for floats: stop excluded even when rounding lands on it (0.1 + 3 * 0.1)."""
    span = (stop - start) / step
    count = max(0, math.ceil(span - 1e-9 * max(1.0, abs(span))))
    return [round(start + i * step, 12) + 0.0 for i in range(count)]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_scalar(value: Any, param: Param, where: str) -> Any:
    if param.kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not is_int(value):
            raise ConfigError(f"{where}: {value!r} is not an integer")
    elif param.kind == "float":
        if not _is_number(value):
            raise ConfigError(f"{where}: {value!r} is not a number")
        value = float(value)
    elif not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {value!r} is not a non-empty string")
    if param.minimum is not None and value < param.minimum:
        raise ConfigError(f"{where}: {format_value(value)} is less than the minimum of {format_value(param.minimum)}")
    if param.maximum is not None and value > param.maximum:
        raise ConfigError(f"{where}: {format_value(value)} is more than the maximum of {format_value(param.maximum)}")
    return value


def entry_values(entry: Mapping[str, Any], index: int, family: Family) -> dict[str, list[Any]]:
    """Check an entry's keys against its family and expand every parameter into its values."""
    where = f"circuits[{index}]"
    unknown = [k for k in entry if k not in family.params and k != "family"]
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))} for family {family.name!r}; "
            f"allowed keys: {', '.join(family.allowed_keys())}"
        )
    values: dict[str, list[Any]] = {}
    for name, param in family.params.items():
        if name not in entry or entry[name] is None:
            if param.required:
                raise ConfigError(f"{where}: family {family.name!r} needs {name!r} ({param.help})")
            values[name] = [param.default]
            continue
        values[name] = expand_values(entry[name], param, f"{where}.{name}")
    return values


def expand_entry(entry: Mapping[str, Any], index: int = 0, *, base_dir: str | Path | None = None) -> list[CircuitSpec]:
    """All circuits of one sweep entry: the product of its list values, in the family's parameter order."""
    if not isinstance(entry, Mapping):
        raise ConfigError(f"circuits[{index}]: expected a mapping like {{family: ghz, qubits: [3, 5]}}, got {entry!r}")
    if "family" not in entry:
        raise ConfigError(f"circuits[{index}]: missing 'family'")
    family = get_family(entry["family"], where=f"circuits[{index}].family")
    values = entry_values(entry, index, family)
    if family.name == "qasm":
        return _expand_qasm(values["path"][0], index, base_dir)
    swept = [name for name in family.params if name not in family.expansion_keys]
    instances = int(values["instances"][0]) if "instances" in values else None
    specs = []
    for combo in itertools.product(*(values[name] for name in swept)):
        params = dict(zip(swept, combo, strict=True))
        stem = circuit_stem(family, params)
        if instances is None:
            specs.append(CircuitSpec(stem, family.name, params, index))
        else:
            for k in range(instances):
                specs.append(CircuitSpec(f"{stem}-i{k}", family.name, {**params, "instance": k}, index))
    return specs


def circuit_stem(family: Family, params: Mapping[str, Any]) -> str:
    """``family-q5-d10``: each parameter by its tag, optional ones only when not at their default."""
    parts = [family.name]
    for name, param in family.params.items():
        if name in family.expansion_keys or not param.tag:
            continue
        value = params[name]
        if not param.required and value == param.default:
            continue
        parts.append(f"{param.tag}{format_value(value)}")
    return "-".join(parts)


def _expand_qasm(pattern: str, index: int, base_dir: str | Path | None) -> list[CircuitSpec]:
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    full = pattern if Path(pattern).is_absolute() else str(base / pattern)
    matches = sorted(glob.glob(full, recursive=True))
    files = [m for m in matches if Path(m).is_file()]
    if not files:
        raise ConfigError(
            f"circuits[{index}].path: {pattern!r} matches no file (relative paths are read from the working "
            f"directory {base}); fix the glob or remove the entry"
        )
    specs = []
    for file in files:
        path = Path(file)
        shown = str(path.relative_to(base)) if path.is_relative_to(base) and not Path(pattern).is_absolute() else str(path)
        specs.append(CircuitSpec(f"qasm-{_UNSAFE.sub('_', path.stem)}", "qasm", {"path": shown}, index))
    return specs


def expand_sweeps(entries: Sequence[Mapping[str, Any]], *, base_dir: str | Path | None = None) -> list[CircuitSpec]:
    """Every circuit of every entry, in config order; ids must be unique across entries."""
    if not isinstance(entries, (list, tuple)) or not entries:
        raise ConfigError("circuits: expected a non-empty list of sweep entries like {family: ghz, qubits: [3, 5]}")
    specs: list[CircuitSpec] = []
    owner: dict[str, int] = {}
    for index, entry in enumerate(entries):
        for spec in expand_entry(entry, index, base_dir=base_dir):
            if spec.id in owner:
                raise ConfigError(
                    f"circuits[{index}]: circuit id {spec.id!r} is also produced by circuits[{owner[spec.id]}]; "
                    "remove the overlapping values (or rename the file)"
                )
            if not ID_PATTERN.match(spec.id):
                raise ConfigError(f"circuits[{index}]: circuit id {spec.id!r} is not usable as a file name")
            owner[spec.id] = index
            specs.append(spec)
    return specs
