"""The bridge contract on the wire: request bodies out, answers checked into counts or one-line errors."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from qcos.counts import Counts, counts_problem
from qcos.exceptions import (
    CAUSE_HEADER,
    CircuitError,
    NodeExecutionError,
    QasmError,
    RetryDecision,
    retry_decision,
)
from qcos.providers.base import ShotTask, TaskOutcome

if TYPE_CHECKING:
    import httpx
    from qiskit import QuantumCircuit

logger = logging.getLogger(__name__)


def qasm_text(circuit: QuantumCircuit) -> str:
    """The OpenQASM 3 text sent for ``circuit`` (QasmError when it has none)."""
    from qcos.circuits.qasm import dumps

    return dumps(circuit)


def circuit_item(text: str, shots: int, seed: int | None, noise: Mapping[str, Any] | None) -> dict[str, Any]:
    """One circuit's body: ``{"qasm", "shots"}`` plus ``seed`` and ``noise`` when given."""
    item: dict[str, Any] = {"qasm": text, "shots": int(shots)}
    if seed is not None:
        item["seed"] = int(seed)
    if noise:
        item["noise"] = dict(noise)
    return item


def check_counts(counts: object, shots: int, node_id: str, where: str) -> Counts:
    """Counts must be {bitstring: non-negative int} summing to ``shots`` (the wire format)."""
    problem = counts_problem(counts, shots, bitstrings=True)
    if problem is not None:
        raise NodeExecutionError(node_id, f"{where}: {problem}")
    assert isinstance(counts, dict)
    return dict(counts)


def response_decision(response: httpx.Response) -> RetryDecision:
    """What an error answer calls for, from its status and the bridge's cause label."""
    return retry_decision(response.status_code, cause=response.headers.get(CAUSE_HEADER))


def error_class(decision: RetryDecision) -> type[NodeExecutionError]:
    """CircuitError for a failure any node would give (NEVER), else NodeExecutionError."""
    return CircuitError if decision is RetryDecision.NEVER else NodeExecutionError


def counts_of(response: httpx.Response, shots: int, node_id: str, where: str, label: str) -> Counts:
    """The checked counts of a ``/run-circuit`` answer, or the error it stands for."""
    if response.status_code != 200:
        error = error_class(response_decision(response))
        raise error(node_id, f"{where} refused circuit {label!r}: {status_text(response)}")
    data = json_body(response, node_id, where)
    if not isinstance(data, dict) or "counts" not in data:
        raise NodeExecutionError(node_id, f"{where} answered JSON without a 'counts' object")
    return check_counts(data["counts"], shots, node_id, where)


def batch_outcomes(data: object, tasks: list[ShotTask], node_id: str, where: str) -> list[TaskOutcome]:
    """One outcome per task from a ``/run-batch`` answer: checked counts, or the error of that item."""
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list) or len(results) != len(tasks):
        raise NodeExecutionError(node_id, f"{where} answered without one result per circuit")
    outcomes: list[TaskOutcome] = []
    for task, result in zip(tasks, results, strict=True):
        try:
            outcomes.append(_batch_item(task, result, node_id, where))
        except NodeExecutionError as error:
            outcomes.append(error)
    return outcomes


def _batch_item(task: ShotTask, result: object, node_id: str, where: str) -> Counts:
    if not isinstance(result, dict):
        raise NodeExecutionError(node_id, f"{where}: result for {task.key} is not an object")
    if "counts" in result and result["counts"] is not None:
        return check_counts(result["counts"], task.shots, node_id, where)
    status = result.get("status", "?")
    decision = retry_decision(status if isinstance(status, int) else 0, cause=str(result.get("cause") or ""))
    raise error_class(decision)(
        node_id, f"{where} refused {task.circuit.name!r} {task.key}: HTTP {status}: "
        f"{str(result.get('error', 'no error message'))[:500]}"
    )


def json_body(response: httpx.Response, node_id: str, where: str) -> Any:
    """The decoded JSON of an answer, or a NodeExecutionError naming the endpoint."""
    try:
        return response.json()
    except ValueError as error:
        raise NodeExecutionError(node_id, f"{where} answered something that is not JSON") from error


def detail(response: httpx.Response) -> str:
    """The server's own words: FastAPI's ``detail``, else the start of the body."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:300].strip() or response.reason_phrase
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])[:500]
    return str(data)[:300]


def status_text(response: httpx.Response) -> str:
    """``HTTP 503: busy``, with a hint for 401."""
    text = f"HTTP {response.status_code}: {detail(response)}"
    if response.status_code == 401:
        text += " (check api_key)"
    return text


class QasmTexts:
    """The OpenQASM text of each circuit of one batch, exported once per circuit object."""

    def __init__(self, node_id: str) -> None:
        self._node_id = node_id
        self._texts: dict[int, tuple[QuantumCircuit, str | NodeExecutionError]] = {}

    def __call__(self, circuit: QuantumCircuit) -> str:
        """The circuit's text; NodeExecutionError (every time) when it has no OpenQASM 3 form."""
        entry = self._texts.get(id(circuit))
        if entry is None:
            entry = self._texts[id(circuit)] = (circuit, self._export(circuit))
        if isinstance(entry[1], NodeExecutionError):
            raise entry[1]
        return entry[1]

    def _export(self, circuit: QuantumCircuit) -> str | NodeExecutionError:
        try:
            return qasm_text(circuit)
        except QasmError as error:
            return unsendable(self._node_id, circuit, error)


def unsendable(node_id: str, circuit: QuantumCircuit, error: Exception) -> NodeExecutionError:
    """The error of a circuit that has no OpenQASM 3 form."""
    return NodeExecutionError(node_id, f"cannot send {circuit.name!r} as OpenQASM 3: {error}")
