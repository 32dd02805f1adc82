"""The run's figures (matplotlib, Agg backend): fidelity, top-outcome probability, run time."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _by_family(rows: Sequence[Mapping[str, Any]], column: str) -> dict[str, tuple[list[float], list[float]]]:
    series: dict[str, tuple[list[float], list[float]]] = {}
    for row in rows:
        value = row.get(column)
        if value in ("", None) or row.get("qubits") in ("", None):
            continue
        xs, ys = series.setdefault(str(row["family"]), ([], []))
        xs.append(float(row["qubits"]))
        ys.append(float(value))
    return series


def scatter_by_family(rows: Sequence[Mapping[str, Any]], column: str, path: str | Path, *,
                      title: str, ylabel: str, ylim: tuple[float, float] | None = None) -> None:
    """``column`` against qubit count, one colour per family (an empty note when there is no data)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    series = _by_family(rows, column)
    for family in sorted(series):
        xs, ys = series[family]
        axes.scatter(xs, ys, label=family, alpha=0.75, s=24)
    if not series:
        axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes)
    else:
        axes.legend(title="family", fontsize="small")
    axes.set_xlabel("qubits")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    if ylim is not None:
        axes.set_ylim(*ylim)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)


def plot_all(summary: Sequence[Mapping[str, Any]], runtimes: Sequence[Mapping[str, Any]],
             paths: Mapping[str, str | Path]) -> None:
    """Write the ``fidelity``, ``top_outcome`` and ``runtime`` figures to ``paths``."""
    scatter_by_family(summary, "hellinger_fidelity", paths["fidelity"], title="Hellinger fidelity vs ideal",
                      ylabel="fidelity", ylim=(0.0, 1.05))
    scatter_by_family(summary, "top_probability", paths["top_outcome"], title="Probability of the top outcome",
                      ylabel="probability", ylim=(0.0, 1.05))
    scatter_by_family(runtimes, "execute_s", paths["runtime"], title="Execution time per circuit",
                      ylabel="seconds (sum over chunks)")
