"""Checks on OpenQASM text before it reaches a parser, so hostile programs fail politely.

Qiskit's importers panic (a ``BaseException``), recurse until the stack overflows, or
expand nested gate definitions exponentially on some valid programs. These checks bound
what a parser will ever see: the program's size, its bracket nesting, its declared
registers, the includes it asks for and how far its gate definitions expand.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

from qcos.workers.jobs import CIRCUIT, QASM

logger = logging.getLogger(__name__)

#: The only files an OpenQASM program may include: the standard libraries shipped in
#: Qiskit. Any other include would make the parser read files on the worker's host.
ALLOWED_INCLUDES = frozenset({"stdgates.inc", "qelib1.inc"})


@dataclass(frozen=True)
class Limits:
    """Bounds a program must respect before it is parsed."""

    max_chars: int = 64 * 2**20
    max_nesting: int = 64  # brackets ( [ { nested; deeper input overflows the parsers' stacks
    max_qubits: int = 0  # 0: no limit
    max_clbits: int = 100_000  # the parser spends ~1 s per million declared bits
    max_expansion: int = 10_000  # operations a gate call may unfold into (the reference importer needs ~1 ms each)


_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_INCLUDE = re.compile(r"\binclude\s*(\"[^\"]*\"|'[^']*'|[^;\s]*)")
_STATEMENT = r"(?:^|[;{}])\s*"
_QUBIT_DECLS = re.compile(_STATEMENT + r"(?:qubit\s*\[\s*(\d+)\s*\]|qreg\s+\w+\s*\[\s*(\d+)\s*\])", re.M)
_CLBIT_DECLS = re.compile(_STATEMENT + r"(?:bit\s*\[\s*(\d+)\s*\]|creg\s+\w+\s*\[\s*(\d+)\s*\])", re.M)
_PHYSICAL = re.compile(r"\$(\d+)")
_BRACKETS = re.compile(r"[()\[\]{}]")
_GATE_DEF = re.compile(r"\bgate\s+([A-Za-z_]\w*)[^{;]*\{([^{}]*)\}")
_CALLEE = re.compile(r"^(?:(?:ctrl|negctrl|inv|pow)\s*(?:\([^()]*\))?\s*@\s*)*([A-Za-z_]\w*)")


def check_program(text: str, limits: Limits) -> tuple[str, str] | None:
    """``(code, one-line reason)`` when ``text`` must not be parsed, None when it is safe to try.

    The code is QASM for programs no parser should be given, CIRCUIT for well-formed
    programs beyond what the worker takes (registers too large).
    """
    if len(text) > limits.max_chars:
        return QASM, f"the program has {len(text)} characters; a worker parses at most {limits.max_chars}"
    problem = check_includes(text)
    if problem is not None:
        return QASM, problem
    code = _COMMENTS.sub(" ", text)
    depth, line = nesting_depth(code)
    if depth > limits.max_nesting:
        return QASM, (f"brackets are nested {depth} deep at line {line}; at most {limits.max_nesting} levels "
                      "are accepted (deeper input crashes the OpenQASM parsers)")
    problem = check_sizes(code, limits)
    if problem is not None:
        return CIRCUIT, problem
    problem = check_expansion(code, limits.max_expansion)
    return None if problem is None else (QASM, problem)


def check_includes(text: str) -> str | None:
    """Why ``text`` may not be parsed (an include other than the standard ones), or None."""
    for match in _INCLUDE.finditer(text):
        name = match.group(1).strip("\"'")
        if name not in ALLOWED_INCLUDES:
            return (f"include {name!r} is not allowed: only {sorted(ALLOWED_INCLUDES)} are provided; "
                    "inline the gate definitions instead")
    return None


def nesting_depth(code: str) -> tuple[int, int]:
    """The deepest bracket nesting and the line where it is first reached (1-based)."""
    depth = deepest = where = 0
    for match in _BRACKETS.finditer(code):
        if match.group() in "([{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, match.start()
        elif depth:
            depth -= 1
    return deepest, code.count("\n", 0, where) + 1


def check_sizes(code: str, limits: Limits) -> str | None:
    """Reject absurd register sizes before parsing (a ``qubit[100000000]`` would eat GBs)."""
    qubits = sum(int(a or b) for a, b in _QUBIT_DECLS.findall(code))
    physical = [int(n) for n in _PHYSICAL.findall(code)]
    if physical:
        qubits = max(qubits, max(physical) + 1)
    if limits.max_qubits and qubits > limits.max_qubits:
        return f"the circuit declares {qubits} qubits but this worker takes at most {limits.max_qubits}"
    clbits = sum(int(a or b) for a, b in _CLBIT_DECLS.findall(code))
    if clbits > limits.max_clbits:
        return f"the circuit declares {clbits} classical bits; at most {limits.max_clbits} are accepted"
    return None


def _calls(body: str) -> Iterator[str]:
    for statement in body.split(";"):
        match = _CALLEE.match(statement.strip())
        if match is not None:
            yield match.group(1)


def check_expansion(code: str, limit: int) -> str | None:
    """Reject gate definitions that unfold into more than ``limit`` operations
    (``gate g1 a { g0 a; g0 a; }`` ... doubles at each level: 40 levels are 10^12 gates)."""
    sizes: dict[str, int] = {}
    if "gate" not in code:
        return None
    for match in _GATE_DEF.finditer(code):
        name, body = match.group(1), match.group(2)
        size = sum(sizes.get(callee, 1) for callee in _calls(body))
        sizes[name] = size
        if size > limit:
            line = code.count("\n", 0, match.start()) + 1
            return (f"gate {name!r} (line {line}) expands to {size} operations; "
                    f"at most {limit} are accepted per gate call")
    return None
