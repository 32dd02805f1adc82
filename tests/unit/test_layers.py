"""Layers of src/qcos point only down: circuits -> workers -> providers -> qvm -> the front ends."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "qcos"

#: Every top-level module or subpackage of qcos and its layer (docs/architecture.md).
_BASE = ("exceptions", "atomic", "redact", "gpuvendor", "checks", "counts")
LAYER: dict[str, str] = {
    **{name: "base" for name in _BASE},
    "circuits": "circuits",
    "results": "results",
    "workers": "workers",
    "tunnels": "tunnels",
    "providers": "providers",
    "qvm": "qvm",
    **{name: "front" for name in ("workflow", "bridge", "primitives", "network", "cli", "cli_input",
                                  "profiles", "__init__", "__main__")},
}
#: The layers each layer may import (besides itself).
MAY_IMPORT: dict[str, set[str]] = {
    "base": set(),
    "circuits": {"base"},
    "results": {"base", "circuits"},  # beside circuits: files and metrics, no providers
    "workers": {"base", "circuits"},
    "tunnels": {"base"},  # the SSH transport only
    "providers": {"base", "circuits", "workers", "tunnels"},
    "qvm": {"base", "circuits", "workers", "tunnels", "providers"},
    "front": {"base", "circuits", "results", "workers", "tunnels", "providers", "qvm"},
}


def _module_name(path: Path) -> str:
    return ".".join(("qcos", *path.relative_to(PACKAGE).with_suffix("").parts))


def _imports(path: Path) -> list[tuple[str, int]]:
    """Absolute ``qcos.*`` imports of a file, lazy ones inside functions included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
    return [(name, line) for name, line in found if name.split(".")[0] == "qcos"]


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return "front" if len(parts) == 1 else LAYER.get(parts[1])  # bare `import qcos`: package metadata


def test_every_module_has_a_layer() -> None:
    unknown = sorted({_module_name(p) for p in PACKAGE.rglob("*.py") if _layer(_module_name(p)) is None})
    assert not unknown, f"place these modules in a layer of LAYER (and docs/architecture.md): {unknown}"


def test_imports_point_only_down() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        source = _layer(module)
        if source is None:
            continue
        for target, line in _imports(path):
            if target == "qcos":
                continue  # `import qcos` for __file__/__version__: the package is imported already
            layer = _layer(target)
            if layer != source and layer not in MAY_IMPORT[source]:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {module} ({source}) imports "
                              f"{target} ({layer})")
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)
