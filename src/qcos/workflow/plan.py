"""The parse-time plan of a run: which circuits exist, which batch each belongs to, where files go.

Batches are chunks of ``batch_size`` circuits *within one sweep entry*, in the entry's
expansion order, so the DAG has about ``circuits / batch_size`` jobs per stage and a
change to one entry leaves every other entry's batches as they were.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qcos.circuits.sweep import CircuitSpec
from qcos.exceptions import ConfigError
from qcos.workflow.config import circuit_specs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batch:
    """One transpile job and one dispatch job: ``batch-<entry>-<chunk>``."""

    id: str
    entry: int
    chunk: int
    specs: tuple[CircuitSpec, ...] = field(hash=False)

    @property
    def ids(self) -> list[str]:
        return [spec.id for spec in self.specs]

    @property
    def rule_suffix(self) -> str:
        """The batch id as a Snakemake rule-name suffix (``batch_00_0001``)."""
        return self.id.replace("-", "_")

    def spec_dicts(self) -> list[dict[str, Any]]:
        return [spec.to_dict() for spec in self.specs]

    def digest(self) -> str:
        """SHA-256 of the batch's circuits: a short rule parameter (Snakemake stores every
        parameter once per output file, so a list of specs would cost batch_size squared)."""
        return _digest(self.spec_dicts())


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def batch_id(entry: int, chunk: int) -> str:
    return f"batch-{entry:02d}-{chunk:04d}"


def make_batches(specs: Sequence[CircuitSpec], batch_size: int) -> list[Batch]:
    """Chunk each sweep entry's circuits into batches of at most ``batch_size``."""
    if batch_size < 1:
        raise ConfigError(f"config: batch_size: {batch_size} is less than the minimum of 1")
    by_entry: dict[int, list[CircuitSpec]] = {}
    for spec in specs:
        by_entry.setdefault(spec.entry, []).append(spec)
    batches = []
    for entry in sorted(by_entry):
        members = by_entry[entry]
        for chunk, start in enumerate(range(0, len(members), batch_size)):
            batches.append(Batch(batch_id(entry, chunk), entry, chunk, tuple(members[start : start + batch_size])))
    return batches


@dataclass
class Plan:
    """Everything the rules need, computed once at parse time from the validated config."""

    config: Mapping[str, Any]
    specs: list[CircuitSpec]
    batches: list[Batch]
    root: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, base_dir: str | Path | None = None,
                    results: str = "results") -> Plan:
        specs = circuit_specs(config, base_dir=base_dir)
        batches = make_batches(specs, int(config["batch_size"]))
        return cls(config, specs, batches, f"{results}/{config['experiment']}")

    # -- paths (relative to the working directory) -------------------------
    def qasm(self, circuit_id: str) -> str:
        return f"{self.root}/qasm/{circuit_id}.qasm"

    def counts(self, circuit_id: str) -> str:
        return f"{self.root}/counts/{circuit_id}.json"

    def run_record(self, batch: Batch) -> str:
        return f"{self.root}/runs/{batch.id}.json"

    def log(self, stage: str, batch: Batch | None = None) -> str:
        return f"logs/{self.config['experiment']}/{stage}" + (f"/{batch.id}.log" if batch else ".log")

    @property
    def ids(self) -> list[str]:
        return [spec.id for spec in self.specs]

    def all_counts(self) -> list[str]:
        return [self.counts(i) for i in self.ids]

    def all_qasm(self) -> list[str]:
        return [self.qasm(i) for i in self.ids]

    def all_run_records(self) -> list[str]:
        return [self.run_record(b) for b in self.batches]

    def manifest(self) -> list[dict[str, Any]]:
        """Every circuit with its batch, in plan order (what ``plan.json`` holds)."""
        return [{**spec.to_dict(), "batch": batch.id} for batch in self.batches for spec in batch.specs]

    def digest(self) -> str:
        """SHA-256 of the manifest: a short rule parameter that changes whenever the plan does."""
        return _digest(self.manifest())

    def batch(self, batch_id: str, digest: str | None = None) -> Batch:
        """The batch called ``batch_id``; with ``digest``, check it still holds the same circuits."""
        for batch in self.batches:
            if batch.id == batch_id:
                if digest is not None and batch.digest() != digest:
                    raise ConfigError(
                        f"{batch_id}: its circuits changed since the workflow was planned "
                        "(qasm files added or removed?); run snakemake again"
                    )
                return batch
        raise ConfigError(f"no batch {batch_id!r} in this plan; run snakemake again")

    def sources(self, batch: Batch) -> list[str]:
        """User files a batch reads (qasm family), so editing one reruns its batch."""
        return [str(spec.params["path"]) for spec in batch.specs if spec.family == "qasm"]

    def __iter__(self) -> Iterator[Batch]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)
