"""Counts: the one type of a measurement histogram and the one rule every executor's counts must meet."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from qcos.checks import is_int

logger = logging.getLogger(__name__)

#: Outcome (a bitstring such as ``"0101"``, registers separated by spaces) -> how often it was seen.
Counts = dict[str, int]

_BITS = frozenset("01 ")


def counts_problem(counts: object, shots: object, *, bitstrings: bool = False) -> str | None:
    """Why ``counts`` are not a histogram of ``shots`` shots, or None when they are.

    Counts map string outcomes to non-negative integers that add up to ``shots``. With
    ``bitstrings`` every outcome must be a non-empty string of ``0``, ``1`` and spaces (the
    wire format of the REST bridge); otherwise any string passes, as Qiskit's hex keys do.
    """
    if not isinstance(counts, Mapping) or not counts:
        return f"counts must be a non-empty mapping of outcomes to counts, got {_describe(counts)}"
    total = 0
    for key, value in counts.items():
        if not isinstance(key, str) or (bitstrings and (not key or not _BITS.issuperset(key))):
            return f"counts key {key!r} is not a {'bitstring' if bitstrings else 'string'}"
        if not is_int(value) or value < 0:
            return f"counts value for {key!r} is {value!r}, not a count"
        total += value
    if total != shots:
        return f"counts add up to {total} shots, not {shots}"
    return None


def _describe(counts: object) -> str:
    return "an empty mapping" if isinstance(counts, Mapping) else type(counts).__name__
