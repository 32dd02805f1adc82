"""The run's figures (matplotlib, Agg backend), drawn from summary and run-time rows.

``fidelity``: Hellinger fidelity per circuit against width, next to the band an ideal
sampler reaches at the same shots; ``top_outcome``; ``runtime``: Aer's own time per
circuit against width; the figures of :mod:`qcos.results.landscape` (metric against the
swept parameters, the QAOA landscape, ideal against measured).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Every figure :func:`plot_all` writes, by name (the workflow's plot outputs).
PLOT_NAMES = ("fidelity", "top_outcome", "runtime", "parameters", "qaoa_landscape", "ideal_vs_measured")
MARKERS = "osD^v<>pP*X"


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def number(value: Any) -> float | None:
    """A CSV cell as a float (None when empty or not a number)."""
    if value in ("", None):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def save(figure: Any, path: str | Path) -> None:
    plt = pyplot()
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)


def no_data(axes: Any, text: str = "no data") -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, wrap=True)
    axes.set_xticks([])
    axes.set_yticks([])


def _series(rows: Sequence[Mapping[str, Any]], column: str) -> dict[str, tuple[list[float], list[float]]]:
    series: dict[str, tuple[list[float], list[float]]] = {}
    for row in rows:
        x, y = number(row.get("qubits")), number(row.get(column))
        if x is None or y is None:
            continue
        xs, ys = series.setdefault(str(row["family"]), ([], []))
        xs.append(x)
        ys.append(y)
    return series


def _jitter(family_index: int, n_families: int) -> float:
    """A small horizontal offset per family, so points at the same width do not hide each other."""
    return 0.0 if n_families <= 1 else (family_index - (n_families - 1) / 2) * 0.12


def scatter_by_family(rows: Sequence[Mapping[str, Any]], column: str, path: str | Path, *, title: str,
                      ylabel: str, ylim: tuple[float, float] | None = None, log: bool = False) -> None:
    """``column`` against qubit count, one colour and marker per family (a note when there is no data)."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    series = _series(rows, column)
    for i, family in enumerate(sorted(series)):
        xs, ys = series[family]
        shift = _jitter(i, len(series))
        axes.scatter([x + shift for x in xs], ys, label=family, alpha=0.75, s=26, marker=MARKERS[i % len(MARKERS)])
    if not series:
        no_data(axes)
    else:
        axes.legend(title="family", fontsize="small")
        axes.set_xlabel("qubits")
        axes.set_ylabel(ylabel)
        if log:
            axes.set_yscale("log")
        if ylim is not None:
            axes.set_ylim(*ylim)
        axes.grid(alpha=0.3)
    axes.set_title(title)
    save(figure, path)


def fidelity_plot(rows: Sequence[Mapping[str, Any]], path: str | Path, *, noise: str = "") -> None:
    """Measured fidelity per circuit, and as grey bars the 95 % range a perfect sampler reaches."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    series = _series(rows, "hellinger_fidelity")
    families = sorted(series)
    drawn_band = False
    for row in rows:
        x, low, mean = number(row.get("qubits")), number(row.get("fidelity_ideal_sampler_low")), \
            number(row.get("fidelity_ideal_sampler"))
        if x is None or low is None or mean is None or row["family"] not in families:
            continue
        shift = _jitter(families.index(row["family"]), len(families))
        axes.vlines(x + shift, low, 1.0, color="0.75", lw=5, alpha=0.6, zorder=1,
                    label=None if drawn_band else "ideal sampler, 95 % range")
        drawn_band = True
    for i, family in enumerate(families):
        xs, ys = series[family]
        shift = _jitter(i, len(families))
        axes.scatter([x + shift for x in xs], ys, label=family, s=26, alpha=0.85, zorder=2,
                     marker=MARKERS[i % len(MARKERS)])
    if not series:
        no_data(axes, "no fidelity (circuits wider than fidelity_max_qubits)")
    else:
        axes.set_ylim(0.0, 1.05)
        axes.set_xlabel("qubits")
        axes.set_ylabel("Hellinger fidelity vs ideal")
        axes.legend(fontsize="small")
        axes.grid(alpha=0.3)
    axes.set_title(f"Fidelity ({noise or 'ideal simulation'}; grey: sampling alone)", fontsize="medium")
    save(figure, path)


def runtime_plot(rows: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """Aer's per-experiment time against width (log scale); reused circuits are left out."""
    fresh = [r for r in rows if str(r.get("reused", "false")) != "true"]
    scatter_by_family(fresh, "simulate_s", path, title="Simulation time per circuit (Aer, summed over chunks)",
                      ylabel="seconds (log scale)", log=True)


def plot_all(summary: Sequence[Mapping[str, Any]], runtimes: Sequence[Mapping[str, Any]],
             paths: Mapping[str, str | Path], *, noise: str = "") -> None:
    """Write every figure of :data:`PLOT_NAMES` that ``paths`` names."""
    from qcos.results import landscape

    if "fidelity" in paths:
        fidelity_plot(summary, paths["fidelity"], noise=noise)
    if "top_outcome" in paths:
        scatter_by_family(summary, "top_probability", paths["top_outcome"], title="Probability of the top outcome",
                          ylabel="probability", ylim=(0.0, 1.05))
    if "runtime" in paths:
        runtime_plot(runtimes, paths["runtime"])
    if "parameters" in paths:
        landscape.parameter_plot(summary, paths["parameters"])
    if "qaoa_landscape" in paths:
        landscape.qaoa_landscape(summary, paths["qaoa_landscape"])
    if "ideal_vs_measured" in paths:
        landscape.ideal_vs_measured(summary, paths["ideal_vs_measured"], noise=noise)
