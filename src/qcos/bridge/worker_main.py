"""The warm bridge worker process: parse OpenQASM once and run it on Aer, job after job.

Started by :mod:`qcos.bridge.workers` as ``python -m qcos.bridge.worker_main FD CONFIG``;
``FD`` is the child's end of a socket pair carrying pickled messages (a trusted channel
between the server and its own children, never exposed to clients). Qiskit and Aer are
imported and warmed up once at start, so a request costs a parse and a simulation, not
an interpreter start.
"""

from __future__ import annotations

import json
import logging
import os
import re
import resource
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

logger = logging.getLogger("qcos.bridge.worker")

#: The only files an OpenQASM program may include: the standard libraries shipped in
#: Qiskit. Any other include would make the parser read files on the bridge host.
ALLOWED_INCLUDES = frozenset({"stdgates.inc", "qelib1.inc"})
_INCLUDE = re.compile(r"\binclude\s*(\"[^\"]*\"|'[^']*'|[^;\s]*)")

#: Result codes a job can end with; the server maps them to HTTP statuses.
OK = "ok"
QASM = "qasm"  # the text is not valid OpenQASM (400)
CIRCUIT = "circuit"  # valid OpenQASM the bridge cannot run: too wide, no measurements (422)
SIMULATION = "simulation"  # Aer refused or failed on the circuit (422)


#: Declared classical bits a program may have (the parser spends ~1 s per million).
MAX_CLBITS = 100_000
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_STATEMENT = r"(?:^|[;{}])\s*"
_QUBIT_DECLS = re.compile(_STATEMENT + r"(?:qubit\s*\[\s*(\d+)\s*\]|qreg\s+\w+\s*\[\s*(\d+)\s*\])", re.M)
_CLBIT_DECLS = re.compile(_STATEMENT + r"(?:bit\s*\[\s*(\d+)\s*\]|creg\s+\w+\s*\[\s*(\d+)\s*\])", re.M)
_PHYSICAL = re.compile(r"\$(\d+)")


def check_sizes(text: str, max_qubits: int) -> str | None:
    """Reject absurd register sizes before parsing (a ``qubit[100000000]`` would eat GBs)."""
    code = _COMMENTS.sub(" ", text)
    qubits = sum(int(a or b) for a, b in _QUBIT_DECLS.findall(code))
    physical = [int(n) for n in _PHYSICAL.findall(code)]
    if physical:
        qubits = max(qubits, max(physical) + 1)
    if qubits > max_qubits:
        return (
            f"the circuit declares {qubits} qubits but this bridge takes at most {max_qubits} "
            f"(--max-qubits {max_qubits})"
        )
    clbits = sum(int(a or b) for a, b in _CLBIT_DECLS.findall(code))
    if clbits > MAX_CLBITS:
        return f"the circuit declares {clbits} classical bits; a bridge takes at most {MAX_CLBITS}"
    return None


def check_includes(text: str) -> str | None:
    """Why ``text`` may not be parsed (an include other than the standard ones), or None."""
    for match in _INCLUDE.finditer(text):
        name = match.group(1).strip("\"'")
        if name not in ALLOWED_INCLUDES:
            return (
                f"include {name!r} is not allowed: a bridge only provides {sorted(ALLOWED_INCLUDES)}; "
                "inline the gate definitions instead"
            )
    return None


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence fd 2 while parsing: the importers print diagnostics that quote the input."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class Runner:
    """Runs jobs in this process with fixed bridge settings (device, width limit, threads)."""

    def __init__(self, config: dict[str, Any]) -> None:
        from qcos.circuits import qasm
        from qcos.qvm import aer

        self._qasm = qasm
        self._aer = aer
        self.max_qubits = int(config.get("max_qubits", 28))
        self.memory_mb = int(config.get("memory_mb", 0) or 0)
        self.base_options: dict[str, Any] = {"device": config.get("device", "CPU")}
        self.default_method = config.get("method") or "automatic"
        threads = int(config.get("threads", 0) or 0)
        if threads > 0:
            self.base_options["max_parallel_threads"] = threads

    def warm_up(self) -> dict[str, Any]:
        """Check the device and run a tiny circuit so the first request pays nothing extra."""
        info: dict[str, Any] = {"pid": os.getpid()}
        if self.base_options["device"] == "GPU":
            available, why = self._aer.gpu_status()
            if not available:
                raise RuntimeError(f"--device GPU: {why}")
        started = time.perf_counter()
        code, value = self.run_one(
            'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\n'
            "c = measure q;\n",
            16, 1, None,
        )
        if code != OK:
            raise RuntimeError(f"warm-up simulation failed: {value}")
        self._aer.pass_manager(self.options(None))  # built once, reused by every transpile
        info["warm_up_s"] = round(time.perf_counter() - started, 3)
        return info

    def options(self, method: str | None) -> dict[str, Any]:
        return {**self.base_options, "method": method or self.default_method}

    def run_one(self, text: str, shots: int, seed: int | None, method: str | None) -> tuple[str, Any]:
        """Parse and simulate one circuit: ``("ok", counts)`` or ``(code, message)``."""
        problem = check_includes(text)
        if problem is not None:
            return QASM, problem
        problem = check_sizes(text, self.max_qubits)
        if problem is not None:
            return CIRCUIT, problem
        try:
            with _quiet_stderr():
                circuit = self._qasm.loads(text, source="qasm")
        except Exception as error:  # QasmError, or anything a parser throws on odd input
            if _caused_by(error, MemoryError):
                return CIRCUIT, self._too_big("parsing")
            return QASM, str(error) or type(error).__name__
        if circuit.num_qubits > self.max_qubits:
            return CIRCUIT, (
                f"the circuit has {circuit.num_qubits} qubits but this bridge takes at most "
                f"{self.max_qubits} (--max-qubits {self.max_qubits})"
            )
        if circuit.num_clbits == 0:
            return CIRCUIT, "the circuit measures nothing: add measurements (e.g. `c = measure q;`)"
        if circuit.parameters:
            names = ", ".join(sorted(p.name for p in circuit.parameters))
            return CIRCUIT, f"the circuit has unbound input parameters ({names}); bind them before sending"
        options = self.options(method)
        try:
            counts = self._aer.simulate(circuit, shots, seed, options)
        except Exception as error:
            if _caused_by(error, MemoryError):
                return CIRCUIT, self._too_big("simulating")
            return SIMULATION, f"simulation failed: {error}"
        return OK, counts

    def _too_big(self, stage: str) -> str:
        return (
            f"the program ran out of memory while {stage}: a bridge worker may use at most "
            f"{self.memory_mb} MiB (--worker-memory-mb)" if self.memory_mb else
            f"the program ran out of memory while {stage}"
        )


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space so a runaway program fails here, not on the host."""
    if megabytes > 0:
        limit = megabytes * 2**20
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def serve(conn: Connection, runner: Runner) -> None:
    """Answer ``("run", [(qasm, shots, seed, method), ...])`` with one message per item."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the server went away
        if not isinstance(message, tuple) or not message:
            continue
        if message[0] == "stop":
            return
        if message[0] == "ping":
            conn.send(("pong", os.getpid()))
            continue
        if message[0] == "run":
            for text, shots, seed, method in message[1]:
                try:
                    outcome = runner.run_one(text, shots, seed, method)
                except Exception as error:  # never let one job end the worker
                    outcome = (SIMULATION, f"unexpected worker error: {type(error).__name__}: {error}")
                conn.send(outcome)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which stops us
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    conn = Connection(int(argv[1]))
    config = json.loads(argv[2])
    try:
        limit_memory(int(config.get("memory_mb", 0) or 0))
        runner = Runner(config)
        info = runner.warm_up()
    except BaseException as error:
        conn.send(("failed", f"{type(error).__name__}: {error}"))
        return 1
    conn.send(("ready", info))
    serve(conn, runner)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
