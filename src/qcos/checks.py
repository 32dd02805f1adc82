"""Checks of plain values (integers in a range) shared by every settings class, with one wording."""

from __future__ import annotations

import logging
import numbers
from typing import TypeGuard

logger = logging.getLogger(__name__)


def is_int(value: object) -> TypeGuard[int]:
    """True for an integer that is not a ``bool`` (``True`` is an int to Python, never to a user).

    NumPy's integers count: Qiskit users pass shots and seeds taken from arrays.
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def require_int(
    name: str,
    value: object,
    *,
    minimum: int | None = 1,
    maximum: int | None = None,
    error: type[Exception] = ValueError,
    what: str | None = None,
) -> int:
    """``value`` when it is an integer within ``[minimum, maximum]``, else ``error`` naming ``name``.

    The message reads ``"{name} must be {what}, got {value!r}"``; ``what`` defaults to
    "a positive integer" (minimum 1), "an integer >= N" or "an integer from N to M".
    """
    if not is_int(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise error(f"{name} must be {what or _wording(minimum, maximum)}, got {value!r}")
    return int(value)


def _wording(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer from {minimum} to {maximum}"
    if minimum == 1:
        return "a positive integer"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"
