"""OpenQASM loading: both versions, the fast path's fallback, located errors."""

from __future__ import annotations

import pytest

from qcos.circuits.qasm import dumps, load_file, loads, qasm_version
from qcos.exceptions import QasmError

QASM3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n'
QASM2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n'


def test_round_trip_both_versions():
    for text in (QASM3, QASM2):
        circuit = loads(text)
        assert circuit.num_qubits == 2 and circuit.count_ops()["cx"] == 1
        assert loads(dumps(circuit)).count_ops() == circuit.count_ops()
    assert qasm_version("// c\nOPENQASM 2.0;") == 2 and qasm_version("qubit q;") == 3


def test_feature_the_rust_importer_lacks_falls_back():
    text = QASM3.replace("h q[0];", "gate myh a { h a; }\nmyh q[0];")
    assert loads(text).num_qubits == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (QASM3.replace("cx q[0], q[1];", "cx q[0], q[1;"), "line 6, column"),
        (QASM3.replace("h q[0];", "foo q[0];"), "foo"),
        (QASM2.replace("h q[0];", "h q[5];"), "line 5"),
        ("   ", "empty OpenQASM program"),
        ("OPENQASM 4.0;", "unsupported OPENQASM version 4"),
    ],
)
def test_errors_name_the_source_and_place(text, expected):
    with pytest.raises(QasmError) as info:
        loads(text, source="exp.qasm")
    assert expected in str(info.value)


def test_load_file_names_circuit_after_file(tmp_path):
    path = tmp_path / "bell.qasm"
    path.write_text(QASM3)
    assert load_file(path).name == "bell"
    (tmp_path / "bin.qasm").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(QasmError, match="not UTF-8"):
        load_file(tmp_path / "bin.qasm")


def test_includes_resolve_only_to_qiskit_s_bundled_files(tmp_path, monkeypatch) -> None:
    """A planted file in the working directory is never read (a bridge's or a Slurm task's cwd)."""
    load_text = loads
    for name in ("stdgates.inc", "qelib1.inc", "evil.inc"):
        (tmp_path / name).write_text("gate evil a { x a; }\n")
    monkeypatch.chdir(tmp_path)
    for text, where in (('OPENQASM 2.0;\ninclude "stdgates.inc";\nqreg q[1];\nevil q[0];\n', "line 2"),
                        ('OPENQASM 3.0;\n\ninclude "qelib1.inc";\nqubit[1] q;\nevil q[0];\n', "line 3"),
                        ("OPENQASM 3.0;\ninclude 'evil.inc';\nqubit[1] q;\n", "line 2")):
        with pytest.raises(QasmError, match=rf"{where}: include '.*' is not allowed"):
            load_text(text)
    assert load_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nh q[0];\n').count_ops() == {"h": 1}
    assert load_text('OPENQASM 3.0;\n// include "evil.inc";\ninclude "stdgates.inc";\nqubit[1] q;\nh q[0];\n'
                     ).count_ops() == {"h": 1}
