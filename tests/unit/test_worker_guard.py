"""Checks on OpenQASM text before parsing: nesting, size, registers, includes, gate expansion."""

from __future__ import annotations

from qcos.workers import CIRCUIT, QASM
from qcos.workers.guard import Limits, check_expansion, check_program, nesting_depth

HEADER = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\n'


def test_ordinary_programs_pass():
    assert check_program(HEADER + "h q[0];\nrx((0.5 + (0.25))) q[0];\nc = measure q;\n", Limits()) is None


def test_nesting_is_bounded_and_located():
    assert nesting_depth("a(b[c{d}])\n") == (3, 1)
    assert nesting_depth("x;\n((\n(1)))") == (3, 3)
    code, message = check_program(HEADER + "rx(" + "(" * 100_000 + "1" + ")" * 100_000 + ") q[0];", Limits())
    assert code == QASM and "nested 100001 deep at line 5" in message


def test_brackets_in_comments_do_not_count():
    assert check_program(HEADER + "// " + "(" * 500 + "\n/* " + "{" * 500 + " */\nh q[0];", Limits()) is None


def test_size_and_registers():
    assert check_program("x" * 11, Limits(max_chars=10))[0] == QASM
    code, message = check_program("OPENQASM 3.0;\nqubit[40] q;", Limits(max_qubits=30))
    assert code == CIRCUIT and "40 qubits" in message


def test_exponential_gate_definitions_are_refused_with_the_gate_and_line():
    program = "gate g0 a { x a; }\n" + "".join(f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}\n" for i in range(1, 61))
    message = check_expansion(program, 10_000)
    assert message is not None and "'g14' (line 15) expands to 16384" in message
    assert check_expansion("gate g0 a { x a; }\ngate g1 a { ctrl @ g0 a; inv @ g0 a; }\n", 2) is None
    assert check_expansion("gate g a { g a; }", 10) is None  # recursion is the parser's to reject


def test_includes_other_than_the_standard_ones_are_refused():
    assert check_program('include "/etc/passwd";', Limits())[0] == QASM
