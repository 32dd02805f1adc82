"""The warm Aer worker process: ``python -m qcos.workers.aer FD CONFIG``.

``FD`` is the child's end of a socket pair carrying pickled messages (a trusted channel
between a pool and its own children, never exposed to clients). Qiskit and Aer are
imported once at start; a job then costs a parse and a simulation per chunk. The worker
dies with its parent: ``PR_SET_PDEATHSIG`` covers SIGKILL of the parent, EOF on the
channel covers everything else.
"""

from __future__ import annotations

import ctypes
import io
import json
import logging
import os
import resource
import signal
import sys
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

from qcos.circuits.noise import RUN_OPTION_KEY
from qcos.workers.guard import Limits, check_program
from qcos.workers.jobs import (
    CIRCUIT,
    MEMORY,
    OK,
    PROTOCOL,
    QASM,
    SIMULATION,
    ParameterTable,
    aer_memory_mb,
)

logger = logging.getLogger("qcos.workers.aer")

_PR_SET_PDEATHSIG = 1
_WARM_UP = ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\n'
            "c = measure q;\n")


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent goes, then close the startup race."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux: EOF on the channel still ends us
        pass
    if parent_pid and os.getppid() != parent_pid:
        os._exit(0)  # the parent died before prctl took effect


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space so a runaway program fails here, not on the host."""
    if megabytes > 0:
        limit = megabytes * 2**20
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence fd 2 while parsing: the importers print diagnostics and Rust panics that quote the input."""
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


def caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _one_line(value: object, limit: int = 500) -> str:
    """``value`` as text on one line, at most ``limit`` characters."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Runner:
    """Parses and simulates chunks in this process with fixed base options and limits."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        from qcos.workers import simulator

        self._aer = simulator
        self.memory_mb = int(config.get("memory_mb") or 0)
        self.base_options: dict[str, Any] = dict(config.get("base_options") or {})
        if self.memory_mb and "max_memory_mb" not in self.base_options:
            self.base_options["max_memory_mb"] = aer_memory_mb(self.memory_mb)
        self.limits = Limits(max_qubits=int(config.get("max_qubits") or 0))
        self._parsed: OrderedDict[str | bytes, Any] = OrderedDict()
        self._last_noise: tuple[Any, Any] = (None, None)  # (spec as received, its NoiseSpec)

    def warm_up(self) -> dict[str, Any]:
        """Check the device and run a tiny circuit so the first real chunk pays nothing extra."""
        started = time.perf_counter()
        if self.base_options.get("device") == "GPU":
            available, why = self._aer.gpu_status()
            if not available:
                raise RuntimeError(f"device GPU: {why}")
        code, value = self.run_one(_WARM_UP, 16, 1, {})
        if code != OK:
            raise RuntimeError(f"warm-up simulation failed: {value}")
        self._aer.pass_manager(self.base_options)  # built once, reused by every transpile
        return {"pid": os.getpid(), "warm_up_s": round(time.perf_counter() - started, 3)}

    def circuit(self, payload: str | bytes) -> tuple[str, Any]:
        """``("ok", circuit)`` or ``(code, message)``; parsed circuits are kept for the next chunks."""
        cached = self._parsed.get(payload)
        if cached is not None:
            self._parsed.move_to_end(payload)
            return OK, cached
        outcome = self._load(payload)
        if outcome[0] == OK:
            self._parsed[payload] = outcome[1]
            if len(self._parsed) > 64:
                self._parsed.popitem(last=False)
        return outcome

    def _load(self, payload: str | bytes) -> tuple[str, Any]:
        if isinstance(payload, bytes):
            from qiskit import qpy

            try:
                return OK, qpy.load(io.BytesIO(payload))[0]
            except Exception as error:
                return CIRCUIT, f"not a readable QPY circuit: {_one_line(error)}"
        refusal = check_program(payload, self.limits)
        if refusal is not None:
            return refusal
        from qcos.circuits import qasm

        try:
            with quiet_stderr():
                return OK, qasm.loads(payload, source="qasm")
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:  # QasmError, RecursionError, a Rust PanicException, ...
            if caused_by(error, MemoryError):
                return MEMORY, self._too_big("parsing")
            return QASM, _one_line(str(error) or type(error).__name__)

    def run_one(self, payload: str | bytes, shots: int, seed: int | None,
                options: Mapping[str, Any], parameters: ParameterTable | None = None) -> tuple[str, Any]:
        """Parse (or reuse) and simulate one chunk: ``("ok", counts)`` or ``(code, message)``;
        with ``parameters``, ``("ok", [counts per point])`` from one Aer run."""
        code, circuit = self.circuit(payload)
        if code != OK:
            return code, circuit
        problem = self._check(circuit, parameters)
        if problem is not None:
            return CIRCUIT, problem
        run_options = {**self.base_options, **options}
        try:
            noise = self._noise(run_options.pop(RUN_OPTION_KEY, None))
            if parameters is not None:
                from qcos.workers.parametric import run_points

                prepared = self._aer.prepare(circuit, run_options, noise=noise)
                return OK, run_points(prepared, parameters, shots, seed, run_options, noise=noise)
            return OK, self._aer.simulate(circuit, shots, seed, run_options, noise=noise)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:
            if caused_by(error, MemoryError) or "insufficient memory" in str(error).lower():
                return MEMORY, self._too_big("simulating")
            return SIMULATION, _one_line(f"simulation failed: {error}")

    def _noise(self, spec: Any) -> Any:
        """The chunk's noise spec (canonical mapping) as a NoiseSpec; its NoiseModel is built once per worker.

        The chunks of one message share one options mapping (see ``WorkerProcess``), so the
        spec is parsed once per message, not per chunk: parsing an Aer NoiseModel's mapping
        costs ~20 ms, ten Aer runs of a small circuit.
        """
        from qcos.circuits.noise import parse_noise

        if not spec:
            return None
        if spec is not self._last_noise[0]:
            self._last_noise = (spec, parse_noise(spec, where="run options: noise"))
        return self._last_noise[1]

    def _check(self, circuit: Any, parameters: ParameterTable | None = None) -> str | None:
        from qcos.circuits.admission import admission_problem

        problem = admission_problem(circuit, max_qubits=self.limits.max_qubits, parametric=parameters is not None)
        if problem is None and parameters is not None:
            expected = sorted(str(p) for p in circuit.parameters)
            if expected != sorted(parameters.names):
                return f"the parameter table names {sorted(parameters.names)} but the circuit has {expected}"
        return problem

    def _too_big(self, stage: str) -> str:
        if self.memory_mb:
            return (f"out of memory while {stage}: a worker may use at most {self.memory_mb} MiB "
                    "(raise the worker memory cap, or use fewer workers or qubits)")
        return f"out of memory while {stage}"


def serve(conn: Connection, runner: Runner) -> None:
    """Answer ``("run", circuits, options, items)`` with one ``(code, value)`` message per item;
    an item is ``(circuit index, shots, seed, options index, parameter table or None)``."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent went away
        if not isinstance(message, tuple) or not message or message[0] == "stop":
            return
        if message[0] != "run":
            continue
        circuits, options, items = message[1], message[2], message[3]
        for index, shots, seed, at, parameters in items:
            try:
                outcome = runner.run_one(circuits[index], shots, seed, options[at], parameters)
            except Exception as error:  # never let one chunk end the worker
                outcome = (SIMULATION, _one_line(f"unexpected worker error: {type(error).__name__}: {error}"))
            try:
                conn.send(outcome)
            except OSError:
                return


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the parent, which stops us
    config = json.loads(argv[2])
    die_with_parent(int(config.get("parent_pid") or 0))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    conn = Connection(int(argv[1]))
    if config.get("protocol") != PROTOCOL:
        conn.send(("failed", f"this worker speaks protocol {PROTOCOL}, its parent {config.get('protocol')}: "
                             "qcos was upgraded under a running program; restart it"))
        return 1
    try:
        limit_memory(int(config.get("memory_mb") or 0))
        runner = Runner(config)
        info = runner.warm_up()
    except BaseException as error:
        conn.send(("failed", _one_line(f"{type(error).__name__}: {error}")))
        return 1
    conn.send(("ready", info))
    serve(conn, runner)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
