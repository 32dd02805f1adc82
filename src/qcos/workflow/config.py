"""Validate a workflow config before any job runs: schema, defaults, families and cluster."""

from __future__ import annotations

import copy
import difflib
import logging
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.protocols import Validator

from qcos.circuits.families import FAMILIES
from qcos.circuits.noise import parse_noise
from qcos.circuits.sweep import CircuitSpec, expand_sweeps
from qcos.exceptions import ConfigError
from qcos.providers.cluster import load_cluster_config, read_cluster_file

logger = logging.getLogger(__name__)

#: the schema shipped with the workflow (workflow/schemas/config.schema.yaml)
DEFAULT_SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"

#: how many schema errors one message lists
MAX_ERRORS = 8


@lru_cache(maxsize=8)
def load_schema(path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """Read a YAML/JSON schema file."""
    try:
        schema: dict[str, Any] = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read the config schema {path}: {error.strerror or error}") from error
    return schema


def _filling_validator() -> type[Validator]:
    """A Draft 7 validator that fills in ``default`` values as it validates (jsonschema recipe)."""
    base = jsonschema.Draft7Validator
    validate_properties = base.VALIDATORS["properties"]

    def properties(validator: Any, props: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
        if isinstance(instance, dict):
            for name, sub in props.items():
                if isinstance(sub, Mapping) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, props, instance, schema)

    filling: type[Validator] = jsonschema.validators.extend(base, {"properties": properties})
    return filling


_Filling = _filling_validator()


def format_path(path: Sequence[Any]) -> str:
    """``["circuits", 1, "qubits"]`` -> ``circuits[1].qubits``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(error: jsonschema.ValidationError) -> tuple[list[Any], str]:
    """The path and a readable message of one schema error (descending into anyOf)."""
    path = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = sorted(schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        hints = []
        for key in extra:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return path, f"unknown key {', '.join(hints)}; allowed keys: {', '.join(allowed)}"
    if error.validator == "enum" and path and path[-1] == "family":
        return path, f"unknown family {error.instance!r}; known families: {', '.join(sorted(FAMILIES))}"
    if error.validator in ("anyOf", "oneOf") and error.context:
        matching = [e for e in error.context if e.validator != "type"]
        if matching:
            best = max(matching, key=lambda e: len(e.absolute_path))
            return _describe(best)
        description = schema.get("description")
        if description:
            return path, f"{error.instance!r} is not valid: expected {description}"
    if error.validator == "required":
        return path, error.message.replace("property", "key")
    return path, error.message


def schema_errors(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Every schema violation as ``config: <path>: <message>`` (fills defaults into ``config``)."""
    validator = _Filling(schema)
    lines = []
    for error in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        path, message = _describe(error)
        where = format_path(path)
        lines.append(f"config: {where}: {message}" if where else f"config: {message}")
    return list(dict.fromkeys(lines))


def validate_config(
    config: Mapping[str, Any],
    schema: str | Path | Mapping[str, Any] = DEFAULT_SCHEMA,
    *,
    base_dir: str | Path | None = None,
) -> dict[str, Any]:
    """A validated copy of ``config`` with defaults filled and ``cluster`` resolved.

    Raises ConfigError naming every bad key (``config: circuits[1].qubits: -3 is less
    than the minimum of 1``). ``base_dir`` is where relative paths (qasm globs,
    ``cluster_file``) are read from: the working directory by default.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"config: expected a mapping of settings, got {type(config).__name__}")
    checked = copy.deepcopy(dict(config))
    schema_doc = load_schema(str(schema)) if isinstance(schema, (str, Path)) else schema
    errors = schema_errors(checked, schema_doc)
    if errors:
        more = f"\n({len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
        raise ConfigError("\n".join(errors[:MAX_ERRORS]) + more)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    if checked.get("cluster_file"):
        checked["cluster"] = _read_cluster_file(base / checked["cluster_file"])
    check_cluster(checked["cluster"], where="config: " + ("cluster_file" if checked.get("cluster_file") else "cluster"))
    parse_noise(checked.get("noise"), where="config: noise")  # what the schema cannot say (t2 <= 2 t1, ...)
    return checked


def circuit_specs(config: Mapping[str, Any], *, base_dir: str | Path | None = None) -> list[CircuitSpec]:
    """Expand the (validated) config's sweeps; errors are prefixed with ``config:``."""
    try:
        return expand_sweeps(config["circuits"], base_dir=base_dir)
    except ConfigError as error:
        raise ConfigError(f"config: {error}") from error


def _read_cluster_file(path: Path) -> list[dict[str, Any]]:
    try:
        return read_cluster_file(path)
    except ConfigError as error:
        raise ConfigError(f"config: cluster_file: {error}") from error


def check_cluster(entries: Sequence[Mapping[str, Any]], *, where: str = "config: cluster") -> None:
    """Provider names and their ``build_nodes`` arguments, checked without building anything."""
    load_cluster_config(entries, where=where)
