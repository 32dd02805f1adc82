"""The bridge tests' limits and OpenQASM programs (the bridge process itself: helpers.bridge)."""

from __future__ import annotations

#: Limits of the shared test bridge (small, so the limit cases are cheap to hit).
MAX_QUBITS = 12
MAX_SHOTS = 100_000
MAX_BODY_MB = 1
TIMEOUT_S = 3

GHZ3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nbit[3] c;\nh q[0];\ncx q[0], q[1];\ncx q[1], q[2];\nc = measure q;\n'


def ghz(n: int) -> str:
    lines = ['OPENQASM 3.0;', 'include "stdgates.inc";', f"qubit[{n}] q;", f"bit[{n}] c;", "h q[0];"]
    lines += [f"cx q[{i}], q[{i + 1}];" for i in range(n - 1)]
    lines.append("c = measure q;")
    return "\n".join(lines) + "\n"


def slow_qasm(iterations: int = 20_000_000) -> str:
    """A tiny program that keeps Aer busy for a long time (a loop it cannot sample away)."""
    return (
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
        f"for int i in [0:{iterations}] {{ h q[0]; cx q[0], q[1]; }}\nc = measure q;\n"
    )
