"""Figures against the swept parameters: each family's metric per parameter, the QAOA (gamma, beta)
landscape of expected MaxCut, and measured values against their ideal (statevector) values."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qcos.results.metrics import ring_edges
from qcos.results.plots import MARKERS, no_data, number, pyplot, save

logger = logging.getLogger(__name__)

#: The metric each family is judged by, and its axis label.
FAMILY_METRIC = {
    "qaoa_ring": ("expected_cut", "expected MaxCut (edges cut)"),
    "qv": ("heavy_output_probability", "heavy-output probability"),
}
DEFAULT_METRIC = ("hellinger_fidelity", "Hellinger fidelity vs ideal")
#: Row keys that are never swept-parameter axes.
_NOT_AXES = frozenset({"instance", "path"})


def swept(rows: Sequence[Mapping[str, Any]], candidates: Sequence[str]) -> list[str]:
    """The candidate columns that take more than one value in ``rows``."""
    return [c for c in candidates if len({str(r.get(c, "")) for r in rows} - {""}) > 1]


def _family_axes(rows: Sequence[Mapping[str, Any]], param_names: Sequence[str]) -> tuple[str, str | None]:
    """The x axis (first swept parameter, else qubits) and the parameter that splits lines."""
    names = swept(rows, [p for p in param_names if p not in _NOT_AXES])
    if "qubits" not in names and len({r.get("qubits") for r in rows}) > 1:
        names.append("qubits")
    if not names:
        return "qubits", None
    return names[0], (names[1] if len(names) > 1 else None)


def _mean_points(rows: Sequence[Mapping[str, Any]], x: str, metric: str) -> tuple[list[float], list[float], list[float]]:
    """Mean and standard error of ``metric`` per x value (instances of a point are averaged)."""
    groups: dict[float, list[float]] = defaultdict(list)
    for row in rows:
        xv, yv = number(row.get(x)), number(row.get(metric))
        if xv is not None and yv is not None:
            groups[xv].append(yv)
    xs = sorted(groups)
    means = [sum(groups[v]) / len(groups[v]) for v in xs]
    errors = []
    for v, m in zip(xs, means, strict=True):
        n = len(groups[v])
        var = sum((y - m) ** 2 for y in groups[v]) / (n - 1) if n > 1 else 0.0
        errors.append(math.sqrt(var / n))
    return xs, means, errors


def parameter_plot(summary: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """One panel per family: its metric against its first swept parameter, one line per value of the second."""
    from qcos.circuits.families import FAMILIES

    plt = pyplot()
    by_family: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in summary:
        by_family[str(row["family"])].append(row)
    families = [f for f in sorted(by_family) if any(number(r.get(_metric(f)[0])) is not None for r in by_family[f])]
    cols = min(3, max(1, len(families)))
    nrows = max(1, math.ceil(len(families) / cols))
    figure, grid = plt.subplots(nrows, cols, figsize=(4.4 * cols, 3.6 * nrows), dpi=110, squeeze=False)
    for axes in grid.flat[len(families):]:
        axes.set_visible(False) if families else no_data(axes, "no metric to plot")
    for axes, family in zip(grid.flat, families, strict=False):
        rows = by_family[family]
        metric, label = _metric(family)
        params = list(FAMILIES[family].params) if family in FAMILIES else []
        x, split = _family_axes(rows, params)
        lines: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for row in rows:
            lines[str(row.get(split, "")) if split else ""].append(row)
        for i, key in enumerate(sorted(lines, key=_line_order)):
            xs, ys, errs = _mean_points(lines[key], x, metric)
            axes.errorbar(xs, ys, yerr=errs if any(errs) else None, marker=MARKERS[i % len(MARKERS)], ms=4,
                          capsize=2, lw=1, label=f"{split}={key}" if split else None)
        if family == "qv":
            axes.axhline(2 / 3, color="0.4", ls="--", lw=1, label="QV threshold 2/3")
        if split or family == "qv":
            axes.legend(fontsize="x-small")
        axes.set_xlabel(x)
        axes.set_ylabel(label)
        axes.set_title(family, fontsize="medium")
        axes.grid(alpha=0.3)
    figure.suptitle("Each family's metric against its swept parameters (mean ± s.e. over instances)",
                    fontsize="medium")
    save(figure, path)


def _metric(family: str) -> tuple[str, str]:
    return FAMILY_METRIC.get(family, DEFAULT_METRIC)


def landscape_grid(rows: Sequence[Mapping[str, Any]], column: str) -> tuple[list[float], list[float], list[list[float]]]:
    """Sorted gammas, sorted betas and ``values[beta][gamma]`` of ``column`` (NaN where missing)."""
    gammas = sorted({g for r in rows if (g := number(r.get("gamma"))) is not None})
    betas = sorted({b for r in rows if (b := number(r.get("beta"))) is not None})
    values = [[math.nan] * len(gammas) for _ in betas]
    for row in rows:
        g, b, v = number(row.get("gamma")), number(row.get("beta")), number(row.get(column))
        if g is not None and b is not None and v is not None:
            values[betas.index(b)][gammas.index(g)] = v
    return gammas, betas, values


def _edges(centres: list[float]) -> list[float]:
    if len(centres) == 1:
        return [centres[0] - 0.5, centres[0] + 0.5]
    mids = [(a + b) / 2 for a, b in zip(centres, centres[1:], strict=False)]
    return [2 * centres[0] - mids[0], *mids, 2 * centres[-1] - mids[-1]]


def argmax_cell(values: list[list[float]]) -> tuple[int, int] | None:
    """(beta index, gamma index) of the largest finite value."""
    best = None
    for i, line in enumerate(values):
        for j, v in enumerate(line):
            if not math.isnan(v) and (best is None or v > values[best[0]][best[1]]):
                best = (i, j)
    return best


def qaoa_landscape(summary: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """Expected MaxCut over (gamma, beta): measured (left) and exact statevector (right), the maxima marked."""
    plt = pyplot()
    rows = [r for r in summary if r.get("family") == "qaoa_ring"]
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(str(row.get("qubits")), str(row.get("layers", "") or 1))].append(row)
    if not groups:
        figure, axes = plt.subplots(figsize=(6.4, 4.2), dpi=110)
        no_data(axes, "no qaoa_ring circuits in this run")
        axes.set_title("QAOA landscape")
        save(figure, path)
        return
    (qubits, layers), chosen = max(groups.items(), key=lambda kv: (len(kv[1]), kv[0]))
    panels = [("expected_cut", "measured")]
    if any(number(r.get("expected_cut_exact")) is not None for r in chosen):
        panels.append(("expected_cut_exact", "exact (statevector)"))
    figure, grid = plt.subplots(1, len(panels), figsize=(5.4 * len(panels), 4.4), dpi=110, squeeze=False)
    n_edges = len(ring_edges(int(float(qubits))))
    values_of = {column: landscape_grid(chosen, column) for column, _ in panels}
    finite = [v for _, _, vals in values_of.values() for line in vals for v in line if not math.isnan(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, float(n_edges))
    for axes, (column, name) in zip(grid.flat, panels, strict=True):
        gammas, betas, values = values_of[column]
        mesh = axes.pcolormesh(_edges(gammas), _edges(betas), values, cmap="viridis", vmin=low, vmax=high,
                               shading="flat")
        figure.colorbar(mesh, ax=axes, label=f"expected cut (of {n_edges} edges)")
        for other, marker, colour in (("expected_cut", "*", "red"), ("expected_cut_exact", "o", "white")):
            if other in values_of:
                cell = argmax_cell(values_of[other][2])
                if cell is not None:
                    axes.plot(gammas[cell[1]], betas[cell[0]], marker=marker, ms=12, mfc="none" if marker == "o" else colour,
                              mec=colour, mew=2, ls="none", label=f"max, {'measured' if other == 'expected_cut' else 'exact'}")
        axes.set_xlabel("γ (cost angle)")
        axes.set_ylabel("β (mixer angle)")
        axes.set_title(f"{name}", fontsize="medium")
        axes.legend(fontsize="x-small", loc="upper right", framealpha=0.7)
    figure.suptitle(f"QAOA MaxCut landscape, ring of {qubits} qubits, p={layers}", fontsize="medium")
    save(figure, path)


#: (metric measured, its ideal value, panel title) for :func:`ideal_vs_measured`.
_PAIRS = (
    ("hellinger_fidelity", "fidelity_ideal_sampler", "Fidelity: measured vs ideal sampler"),
    ("expected_cut", "expected_cut_exact", "QAOA expected cut: measured vs exact"),
    ("heavy_output_probability", "heavy_output_ideal", "QV heavy outputs: measured vs ideal"),
)


def ideal_vs_measured(summary: Sequence[Mapping[str, Any]], path: str | Path, *, noise: str = "") -> None:
    """Each metric measured (y) against its ideal value (x); the diagonal is a perfect, infinitely sampled run."""
    plt = pyplot()
    panels = [p for p in _PAIRS if any(number(r.get(p[0])) is not None and number(r.get(p[1])) is not None
                                       for r in summary)]
    figure, grid = plt.subplots(1, max(1, len(panels)), figsize=(4.4 * max(1, len(panels)), 4.2), dpi=110,
                                squeeze=False)
    if not panels:
        no_data(grid[0][0], "no ideal reference (circuits wider than fidelity_max_qubits)")
    for axes, (measured, ideal, title) in zip(grid.flat, panels, strict=False):
        families = sorted({str(r["family"]) for r in summary if number(r.get(measured)) is not None})
        points = []
        for i, family in enumerate(families):
            xs, ys = [], []
            for row in summary:
                x, y = number(row.get(ideal)), number(row.get(measured))
                if row["family"] == family and x is not None and y is not None:
                    xs.append(x)
                    ys.append(y)
            points += xs + ys
            axes.scatter(xs, ys, s=24, alpha=0.8, marker=MARKERS[i % len(MARKERS)], label=family)
        lo, hi = min(points), max(points)
        pad = 0.05 * (hi - lo or 1.0)
        axes.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", ls="--", lw=1, label="measured = ideal")
        axes.set_xlabel("ideal")
        axes.set_ylabel("measured")
        axes.set_title(title, fontsize="small")
        axes.legend(fontsize="x-small")
        axes.grid(alpha=0.3)
    figure.suptitle(f"Ideal vs measured ({noise or 'ideal simulation: differences are sampling only'})",
                    fontsize="medium")
    save(figure, path)


def _line_order(key: str) -> tuple[int, float, str]:
    """Numeric line labels in numeric order, then the others by name (never a float against a str)."""
    value = number(key)
    return (0, value, "") if value is not None else (1, 0.0, key)
