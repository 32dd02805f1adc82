"""Read an experiment's results: every circuit's record, one circuit's counts, or the old JSON files."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from pathlib import Path

from qcos.results.counts import ResultsError, write_if_changed
from qcos.results.store import CircuitRecord, iter_records, legacy_counts_json, read_counts_table

logger = logging.getLogger(__name__)


class Results:
    """The results of one experiment folder (``results/<experiment>``).

    >>> results = Results.open("demo")                       # doctest: +SKIP
    >>> results.get("ghz-q3").counts                        # doctest: +SKIP
    {'000': 515, '111': 509}
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not (self.root / "counts").is_dir():
            raise ResultsError(f"{self.root}: no result tables here (expected {self.root / 'counts'}/*.parquet); "
                               "run the workflow first or check the experiment name")

    @classmethod
    def open(cls, experiment: str, results_dir: str | Path = "results") -> Results:
        """The experiment called ``experiment`` under ``results_dir``, or a folder given as a path."""
        path = Path(experiment)
        return cls(path if (path / "counts").is_dir() else Path(results_dir) / experiment)

    def _plan(self) -> list[dict[str, Any]]:
        try:
            return list(json.loads((self.root / "plan.json").read_text(encoding="utf-8"))["circuits"])
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def tables(self) -> list[Path]:
        """The batch tables, in plan order when ``plan.json`` is there (else by name)."""
        order = list(dict.fromkeys(entry["batch"] for entry in self._plan()))
        paths = [self.root / "counts" / f"{batch}.parquet" for batch in order]
        if paths and all(p.exists() for p in paths):
            return paths
        return sorted((self.root / "counts").glob("*.parquet"))

    def records(self) -> Iterator[CircuitRecord]:
        """Every circuit's record, batch after batch."""
        yield from iter_records(self.tables())

    def get(self, circuit_id: str) -> CircuitRecord:
        """One circuit's record; ResultsError names close ids when there is none."""
        batch = next((e["batch"] for e in self._plan() if e.get("id") == circuit_id), None)
        paths = [self.root / "counts" / f"{batch}.parquet"] if batch else self.tables()
        for path in paths:
            found = read_counts_table(path, circuit_id) if path.exists() else []
            if found:
                return found[0]
        import difflib

        known = [e["id"] for e in self._plan()] or [r.circuit_id for r in self.records()]
        close = difflib.get_close_matches(circuit_id, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; {len(known)} circuit(s) here"
        raise ResultsError(f"{self.root}: no circuit {circuit_id!r}{hint}")

    def export_json(self, destination: str | Path) -> int:
        """Write one ``<circuit>.json`` counts file per circuit (the pre-table format); returns how many."""
        destination = Path(destination)
        destination.mkdir(parents=True, exist_ok=True)
        n = 0
        for record in self.records():
            write_if_changed(destination / f"{record.circuit_id}.json", legacy_counts_json(record))
            n += 1
        logger.info("exported %d counts file(s) to %s", n, destination)
        return n
