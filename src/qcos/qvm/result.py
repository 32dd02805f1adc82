"""Results of a DistributedQVM run: merged counts plus the per-chunk, per-node story."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, overload

from qcos.counts import Counts


class FallbackCounts(dict[str, int]):
    """Counts the built-in Aer executor produced after a provider declined the chunk."""

    sim_s: float | None = None  # Aer's own time, as on qcos.workers.simulator.SimCounts


@dataclass(frozen=True)
class ChunkRecord:
    """Where and how one chunk ran."""

    circuit_index: int
    chunk_index: int
    shots: int
    seed: int | None
    node_id: str
    attempts: int
    duration_s: float
    counts: Counts = field(repr=False)
    fallback: bool = False  # ran on the built-in Aer executor after the provider declined
    #: Aer's own time for this chunk's experiment (None when the executor did not report it)
    sim_s: float | None = None


@dataclass
class QVMResult:
    """One circuit's merged counts, with its chunks, timings and metadata."""

    name: str
    counts: Counts
    shots: int
    seed: int
    num_qubits: int
    chunks: list[ChunkRecord]
    timings: dict[str, float]
    metadata: dict[str, Any]

    def get_counts(self) -> Counts:
        """Merged counts (Qiskit's ``Result.get_counts`` spelling)."""
        return dict(self.counts)

    @property
    def node_ids(self) -> list[str]:
        """Nodes that ran at least one chunk, sorted."""
        return sorted({chunk.node_id for chunk in self.chunks})

    @property
    def per_node(self) -> dict[str, dict[str, Any]]:
        """Shots, chunks and counts contributed by each node."""
        summary: dict[str, dict[str, Any]] = {}
        for chunk in self.chunks:
            entry = summary.setdefault(chunk.node_id, {"shots": 0, "chunks": 0, "counts": {}})
            entry["shots"] += chunk.shots
            entry["chunks"] += 1
            for key, value in chunk.counts.items():
                entry["counts"][key] = entry["counts"].get(key, 0) + value
        return summary

    def to_dict(self, *, include_chunks: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "counts": dict(sorted(self.counts.items())),
            "shots": self.shots,
            "seed": self.seed,
            "num_qubits": self.num_qubits,
            "node_ids": self.node_ids,
            "timings": dict(self.timings),
            "metadata": dict(self.metadata),
        }
        if include_chunks:
            data["chunks"] = [asdict(chunk) for chunk in self.chunks]
        return data


class BatchResult(Sequence[QVMResult]):
    """The results of ``run_batch``, in input order, plus batch-wide timings and node usage."""

    def __init__(self, results: list[QVMResult], *, seed: int, wall_s: float,
                 per_node: dict[str, dict[str, Any]], mode: str) -> None:
        self.results = results
        self.seed = seed
        self.wall_s = wall_s
        self.per_node = per_node
        self.mode = mode

    @overload
    def __getitem__(self, index: int) -> QVMResult: ...
    @overload
    def __getitem__(self, index: slice) -> list[QVMResult]: ...
    def __getitem__(self, index: int | slice) -> QVMResult | list[QVMResult]:
        return self.results[index]

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[QVMResult]:
        return iter(self.results)

    @property
    def total_shots(self) -> int:
        return sum(result.shots for result in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "mode": self.mode,
            "wall_s": self.wall_s,
            "per_node": self.per_node,
            "results": [result.to_dict() for result in self.results],
        }

    def __repr__(self) -> str:
        return f"<BatchResult {len(self)} circuits, {self.total_shots} shots, {self.wall_s:.3f}s>"


def merged_result(name: str, num_qubits: int, chunks: Sequence[ChunkRecord], *, seed: int, transpile_s: float,
                  wall_s: float, metadata: dict[str, Any]) -> QVMResult:
    """One circuit's result from its chunks' records: counts summed, chunks in order, timings."""
    ordered = sorted(chunks, key=lambda r: r.chunk_index)
    merged: dict[str, int] = {}
    for chunk in ordered:
        for outcome, count in chunk.counts.items():
            merged[outcome] = merged.get(outcome, 0) + count
    sim_times = [c.sim_s for c in ordered if c.sim_s is not None]
    timings = {
        "transpile_s": transpile_s,
        "execute_s": sum(c.duration_s for c in ordered),
        # Aer's per-experiment time summed over chunks: no start-up, no transfer
        **({"simulate_s": sum(sim_times)} if ordered and len(sim_times) == len(ordered) else {}),
        "wall_s": wall_s,
    }
    return QVMResult(name=name, counts=dict(sorted(merged.items())), shots=sum(c.shots for c in ordered), seed=seed,
                     num_qubits=num_qubits, chunks=ordered, timings=timings, metadata=metadata)
