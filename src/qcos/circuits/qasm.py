"""OpenQASM 2/3 in and OpenQASM 3 out, fast where possible and with located errors."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

from qiskit import QuantumCircuit, qasm2, qasm3

from qcos.exceptions import QasmError

logger = logging.getLogger(__name__)

_VERSION = re.compile(r"^\s*OPENQASM\s+(\d+)(?:\.\d+)?\s*;", re.MULTILINE)
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_INCLUDE = re.compile(r"\binclude\s*(?:\"([^\"\n]*)\"|'([^'\n]*)')")
#: the include each version may name: the standard library bundled in Qiskit, never a file on disk
BUNDLED_INCLUDES = {2: "qelib1.inc", 3: "stdgates.inc"}


def qasm_version(text: str) -> int:
    """The major version the header declares (2 or 3); 3 when there is no header."""
    match = _VERSION.search(_COMMENTS.sub("", text[:4096]))
    if match is None:
        return 3
    version = int(match.group(1))
    if version not in (2, 3):
        raise QasmError(f"unsupported OPENQASM version {version}: qcos reads OpenQASM 2 and 3")
    return version


def loads(text: str, *, source: str = "<string>") -> QuantumCircuit:
    """Parse OpenQASM 2 or 3 text into a circuit.

    OpenQASM 3 goes through Qiskit's Rust importer (about 30x faster) and falls back to
    the reference importer for features the Rust one lacks; the reference importer also
    supplies the line and column of a syntax error. ``source`` names the text in errors.
    """
    if not isinstance(text, str) or not text.strip():
        raise QasmError(f"{source}: empty OpenQASM program")
    version = qasm_version(text)
    check_includes(text, version, source)
    if version == 2:
        return _loads_qasm2(text, source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return qasm3.loads_experimental(text)
    except BaseException as fast_error:  # the Rust importer raises several types, and panics
        if isinstance(fast_error, (KeyboardInterrupt, SystemExit)):
            raise
        try:
            return qasm3.loads(text)
        except Exception as error:
            raise QasmError(f"{source}: invalid OpenQASM 3: {_describe_qasm3_error(error)}") from error
        finally:
            logger.debug("Rust OpenQASM 3 importer declined %s: %s", source, fast_error)


def check_includes(text: str, version: int, source: str = "<string>") -> None:
    """QasmError unless every ``include`` names the standard library Qiskit bundles for ``version``.

    The parsers would otherwise read any other file (or a planted ``stdgates.inc`` in an
    OpenQASM 2 program) from the current directory of whoever parses: a bridge, a Slurm task.
    """
    code = _COMMENTS.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    allowed = BUNDLED_INCLUDES[version]
    for match in _INCLUDE.finditer(code):
        name = match.group(1) if match.group(1) is not None else match.group(2)
        if name != allowed:
            line = code.count("\n", 0, match.start()) + 1
            raise QasmError(
                f"{source}: line {line}: include {name!r} is not allowed: OpenQASM {version} programs may only "
                f"include Qiskit's bundled {allowed!r}; define the gates in the program instead"
            )


def load_file(path: str | Path) -> QuantumCircuit:
    """Read and parse a ``.qasm`` file; errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise QasmError(f"cannot read OpenQASM file {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise QasmError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from error
    circuit = loads(text, source=str(path))
    if not circuit.name or circuit.name.startswith("circuit-"):
        circuit.name = path.stem
    return circuit


def dumps(circuit: QuantumCircuit) -> str:
    """OpenQASM 3 text of a circuit (what bridges and counts files carry).

    Angles are written as plain floats (``disable_constants``): Qiskit's fast Rust
    importer cannot read expressions such as ``-pi/2``, and the fallback costs ~30x.
    """
    try:
        text: str = qasm3.dumps(circuit, disable_constants=True)
    except Exception as error:
        raise QasmError(f"circuit {circuit.name!r} cannot be written as OpenQASM 3: {error}") from error
    return text


def _loads_qasm2(text: str, source: str) -> QuantumCircuit:
    try:
        return qasm2.loads(text, include_path=(), custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    except qasm2.QASM2ParseError as error:
        message = str(error).replace("<input>:", "line ", 1)
        raise QasmError(f"{source}: invalid OpenQASM 2: {message}") from error


def _describe_qasm3_error(error: BaseException) -> str:
    """Find a line/column in the error chain (ANTLR buries it in its causes)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        token = getattr(current, "offendingToken", None)
        if token is not None and getattr(token, "line", None) is not None:
            near = getattr(token, "text", "")
            return f"syntax error at line {token.line}, column {token.column + 1} near {near!r}"
        if current.args and isinstance(current.args[0], BaseException):
            current = current.args[0]
            continue
        current = current.__cause__ or current.__context__
    text = str(error).strip()
    return text or type(error).__name__
