"""Request and response bodies of the bridge's HTTP contract (pydantic, strict types)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qcos.bridge.settings import MAX_SEED

Method = Literal[
    "automatic", "statevector", "density_matrix", "stabilizer", "extended_stabilizer", "matrix_product_state"
]


class CircuitRequest(BaseModel):
    """``POST /run-circuit``: ``{"qasm": ..., "shots": 1024}`` plus optional ``seed``, ``method``, ``noise``.

    Types are strict (``"10"`` or ``10.0`` is not a shot count); unknown fields are ignored
    so that newer clients keep working.
    """

    model_config = ConfigDict(strict=True, extra="ignore")

    qasm: str = Field(min_length=1, description="OpenQASM 3 (or 2) program text")
    shots: int = Field(default=1024, ge=1, description="number of shots")
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED, description="Aer seed_simulator")
    method: Method | None = Field(default=None, description="Aer simulation method")
    noise: dict[str, Any] | None = Field(
        default=None, strict=False, description="noise spec, as qcos.circuits.noise reads it (announced in /health)"
    )


class BatchRequest(BaseModel):
    """``POST /run-batch``: ``{"circuits": [CircuitRequest, ...]}``."""

    model_config = ConfigDict(strict=True, extra="ignore")

    circuits: list[CircuitRequest] = Field(min_length=1)


class CountsResponse(BaseModel):
    counts: dict[str, int]


class BatchItem(BaseModel):
    counts: dict[str, int] | None = None
    error: str | None = None
    status: int | None = None


class BatchResponse(BaseModel):
    results: list[BatchItem]


def describe_validation_error(error: ValidationError) -> tuple[str, list[dict[str, Any]]]:
    """A one-line summary and a compact list of problems, without echoing the input back."""
    problems = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        location = ".".join(str(part) for part in item.get("loc", ())) or "body"
        problems.append({"field": location, "problem": item.get("msg", "invalid"), "type": item.get("type", "")})
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
    if len(problems) > 5:
        summary += f"; ... and {len(problems) - 5} more"
    return summary, problems
