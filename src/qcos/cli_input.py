"""``qcos run`` input: parse a QASM file so that every failure is one line and nothing reaches stdout."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from qcos.exceptions import QasmError, QcosError

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

logger = logging.getLogger(__name__)

#: deepest bracket nesting accepted: Qiskit's importers crash the process (stack overflow) far below 1e5
MAX_NESTING = 200
_OPEN, _CLOSE = "([{", ")]}"


def nesting_depth(text: str) -> int:
    """The deepest nesting of ``()``, ``[]`` and ``{}`` in ``text`` (comments included, which only errs high)."""
    depth = deepest = 0
    for char in text:
        if char in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif char in _CLOSE:
            depth = max(0, depth - 1)
    return deepest


@contextlib.contextmanager
def captured_output() -> Iterator[list[str]]:
    """Send what native code prints on file descriptors 1 and 2 to a buffer (yielded after exit)."""
    sink: list[str] = []
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as buffer:
        try:
            os.dup2(buffer.fileno(), 1)
            os.dup2(buffer.fileno(), 2)
            yield sink
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            buffer.seek(0)
            sink.append(buffer.read().decode("utf-8", "replace"))


def load_qasm_quietly(path: str | Path) -> QuantumCircuit:
    """Parse an OpenQASM file; any failure (importer panics included) is a one-line ``QasmError``.

    The importers' own chatter (the Rust parser's diagnostics, ANTLR's messages, a panic's
    backtrace) is captured and logged at debug level, so ``qcos run x.qasm > out.json``
    leaves ``out.json`` holding JSON or nothing.
    """
    from qcos.circuits.qasm import load_file

    path = Path(path)
    with contextlib.suppress(OSError, UnicodeDecodeError):
        depth = nesting_depth(path.read_text(encoding="utf-8"))
        if depth > MAX_NESTING:
            raise QasmError(f"{path}: brackets nested {depth} deep (at most {MAX_NESTING} are accepted)")
    output: list[str] = []
    try:
        with captured_output() as output:
            circuit = load_file(path)
    except QcosError:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: BLE001 - Rust panics are BaseExceptions
        detail = str(error).strip().splitlines()
        raise QasmError(f"{path}: the OpenQASM importer failed: {detail[-1] if detail else type(error).__name__}") from error
    finally:
        if output and output[0].strip():
            logger.debug("OpenQASM importer output for %s:\n%s", path, output[0].rstrip())
    return circuit
