"""The parse-time plan of a run: which circuits exist, which batch each belongs to, where files go.

A batch is at most ``batch_size`` circuits of one sweep entry, in the entry's expansion
order, named ``<family>-<k>-<chunk>`` where ``k`` counts the entries of that family
(``ghz-0-0000``, ``qft-0-0000``, ``ghz-1-0000``). Adding an entry of another family, or
appending values to an entry's last swept parameter, only appends batches: existing batch
names keep their circuits. The rules see batches through one ``{batch}`` wildcard.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from qcos.circuits.sweep import CircuitSpec
from qcos.exceptions import ConfigError
from qcos.workflow.config import circuit_specs
from qcos.workflow.preflight import spec_width
from qcos.workflow.settings import digest

logger = logging.getLogger(__name__)

#: what a batch name looks like (the ``{batch}`` wildcard's constraint)
BATCH_PATTERN = r"[a-z][a-z0-9_]*-[0-9]+-[0-9][0-9][0-9][0-9]+"
_BATCH_RE = re.compile(f"^{BATCH_PATTERN}$")


@dataclass(frozen=True)
class Batch:
    """One transpile job and one dispatch job."""

    id: str
    entry: int
    chunk: int
    specs: tuple[CircuitSpec, ...] = field(hash=False)

    @property
    def ids(self) -> list[str]:
        return [spec.id for spec in self.specs]

    @cached_property
    def _dicts(self) -> tuple[dict[str, Any], ...]:
        # without the entry index: adding an entry before this one must not change the batch
        return tuple({"id": s.id, "family": s.family, "params": dict(s.params)} for s in self.specs)

    def spec_dicts(self) -> list[dict[str, Any]]:
        """The batch's circuits as plain mappings (the transpile rule's parameter)."""
        return list(self._dicts)


def batch_id(family: str, family_entry: int, chunk: int) -> str:
    return f"{family}-{family_entry}-{chunk:04d}"


def is_batch_id(text: str) -> bool:
    return bool(_BATCH_RE.match(text))


def make_batches(specs: Sequence[CircuitSpec], batch_size: int) -> list[Batch]:
    """Chunk each sweep entry's circuits into batches of at most ``batch_size``."""
    if batch_size < 1:
        raise ConfigError(f"config: batch_size: {batch_size} is less than the minimum of 1")
    by_entry: dict[int, list[CircuitSpec]] = {}
    for spec in specs:
        by_entry.setdefault(spec.entry, []).append(spec)
    batches = []
    seen_family: dict[str, int] = {}
    for entry in sorted(by_entry):
        members = by_entry[entry]
        family = members[0].family
        k = seen_family[family] = seen_family.get(family, -1) + 1
        for chunk, start in enumerate(range(0, len(members), batch_size)):
            batches.append(Batch(batch_id(family, k, chunk), entry, chunk, tuple(members[start : start + batch_size])))
    return batches


@dataclass
class Plan:
    """Everything the rules need, computed once at parse time from the validated config."""

    config: Mapping[str, Any]
    specs: list[CircuitSpec]
    batches: list[Batch]
    root: str
    _by_id: dict[str, Batch] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {batch.id: batch for batch in self.batches}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, base_dir: str | Path | None = None,
                    results: str = "results") -> Plan:
        specs = circuit_specs(config, base_dir=base_dir)
        batches = make_batches(specs, int(config["batch_size"]))
        return cls(config, specs, batches, f"{results}/{config['experiment']}")

    # -- path patterns and paths (relative to the working directory) ----------
    def pattern(self, kind: str) -> str:
        """A per-batch path with a ``{batch}`` wildcard: ``qasm``, ``table``, ``run`` or ``journal``."""
        layout = {"qasm": "qasm/{batch}.parquet", "table": "counts/{batch}.parquet",
                  "run": "runs/{batch}.json", "journal": "journal/{batch}.jsonl"}
        return f"{self.root}/{layout[kind]}"

    def path(self, kind: str, batch: Batch | str) -> str:
        return self.pattern(kind).format(batch=batch if isinstance(batch, str) else batch.id)

    def all_paths(self, kind: str) -> list[str]:
        return [self.path(kind, batch) for batch in self.batches]

    def log(self, stage: str, batch: str | None = None) -> str:
        return f"logs/{self.config['experiment']}/{stage}" + (f"/{batch}.log" if batch else ".log")

    @property
    def ids(self) -> list[str]:
        return [spec.id for spec in self.specs]

    def manifest(self) -> list[dict[str, Any]]:
        """Every circuit with its batch, in plan order (what ``plan.json`` holds)."""
        return [{**spec, "batch": batch.id} for batch in self.batches for spec in batch.spec_dicts()]

    def digest(self) -> str:
        """SHA-256 of the manifest: a short rule parameter that changes whenever the plan does."""
        return digest(self.manifest())

    def batch(self, batch_id: str) -> Batch:
        """The batch called ``batch_id``."""
        try:
            return self._by_id[batch_id]
        except KeyError:
            raise ConfigError(f"no batch {batch_id!r} in this plan (batches: {len(self.batches)}); "
                              "run snakemake again") from None

    def sources(self, batch: Batch | str) -> list[str]:
        """User files a batch reads (qasm family), so editing one reruns its batch."""
        batch = self.batch(batch) if isinstance(batch, str) else batch
        return [str(spec.params["path"]) for spec in batch.specs if spec.family == "qasm"]

    @cached_property
    def spec_widths(self) -> dict[str, int | None]:
        """Each circuit's width in qubits by id, computed once (a ``qasm`` circuit's file is read here only)."""
        return {spec.id: spec_width(spec) for spec in self.specs}

    def width(self, batch: Batch | str) -> int | None:
        """The widest circuit of a batch in qubits (None if no circuit's width is known here)."""
        batch = self.batch(batch) if isinstance(batch, str) else batch
        widths = [w for spec_id in batch.ids if (w := self.spec_widths[spec_id]) is not None]
        return max(widths) if widths else None

    def __iter__(self) -> Iterator[Batch]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)
