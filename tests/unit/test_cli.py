"""The qcos command line, run as a user would (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

QASM = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nbit[3] c;\nh q[0];\ncx q[0], q[1];\ncx q[1], q[2];\nc = measure q;\n'


def qcos(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qcos", *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_providers_lists_builtins_with_display_names():
    out = qcos("providers", "--json")
    assert out.returncode == 0, out.stderr
    listing = json.loads(out.stdout)
    assert listing["local_cpu"] == "Local Aer (CPU)" and "mock" in listing


def test_run_prints_counts_and_is_reproducible(tmp_path):
    path = tmp_path / "ghz.qasm"
    path.write_text(QASM)
    first = qcos("run", str(path), "--shots", "2000", "--seed", "7")
    assert first.returncode == 0, first.stderr
    counts = json.loads(first.stdout)
    assert set(counts) == {"000", "111"} and sum(counts.values()) == 2000
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text("- {provider: local_cpu, n_nodes: 3}\n")
    second = qcos("run", str(path), "--shots", "2000", "--seed", "7", "--cluster", str(cluster), "--chunk-shots", "300")
    third = qcos("run", str(path), "--shots", "2000", "--seed", "7", "--chunk-shots", "300")
    assert json.loads(second.stdout) == json.loads(third.stdout)
    full = json.loads(qcos("run", str(path), "--shots", "10", "--seed", "1", "--full").stdout)
    assert full["node_ids"] == ["local-cpu-0"] and full["seed"] == 1


def test_run_reports_bad_input_without_traceback(tmp_path):
    bad = tmp_path / "bad.qasm"
    bad.write_text(QASM.replace("cx q[1], q[2];", "cx q[1], q[2;"))
    out = qcos("run", str(bad))
    assert out.returncode == 2
    assert "bad.qasm: invalid OpenQASM 3: syntax error at line 7" in out.stderr
    assert "Traceback" not in out.stderr
    missing = qcos("run", str(tmp_path / "nope.qasm"))
    assert missing.returncode == 2 and "cannot read OpenQASM file" in missing.stderr
    cluster = tmp_path / "c.yaml"
    cluster.write_text("- {provider: local_cpu, n_node: 2}\n")
    good = tmp_path / "good.qasm"
    good.write_text(QASM)
    wrong = qcos("run", str(good), "--cluster", str(cluster))
    assert wrong.returncode == 2 and "unknown argument(s) ['n_node']" in wrong.stderr


def _deep(n: int) -> str:
    return "OPENQASM 3.0;\nqubit[1] q;\nbit[1] c;\nrx(" + "(" * n + "0.5" + ")" * n + ") q[0];\nc[0] = measure q[0];\n"


ERROR_CASES = {
    "syntax": ("x.qasm", QASM.replace("h q[0];", "h q[0;"), []),
    "importer panic": ("x.qasm", 'OPENQASM 3.0;\nconst uint n = 2;\nqubit[n] q;\nbit[2] c;\nc = measure q;\n', []),
    "deep nesting": ("x.qasm", _deep(100_000), []),
    "empty": ("x.qasm", "", []),
    "qasm2 error": ("x.qasm", 'OPENQASM 2.0;\nqreg q[2];\nfoo q[0];\n', []),
    "not utf-8": ("x.qasm", b"\xff\xfe\x00garbage", []),
    "missing file": (None, None, []),
    "zero shots": ("x.qasm", QASM, ["--shots", "0"]),
    "bad shots value": ("x.qasm", QASM, ["--shots", "many"]),
    "bad chunk shots": ("x.qasm", QASM, ["--chunk-shots", "lots"]),
    "too wide": ("x.qasm", QASM, ["--cluster", "{cluster}"]),
}


def test_every_run_error_is_one_line_on_stderr_with_exit_2(tmp_path):
    cluster = tmp_path / "narrow.yaml"
    cluster.write_text("- {provider: local_cpu, n_nodes: 1, max_qubits: 2}\n")
    for name, (filename, content, extra) in ERROR_CASES.items():
        path = tmp_path / (filename or "missing.qasm")
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            path.write_text(content)
        args = [a.replace("{cluster}", str(cluster)) for a in extra]
        out = qcos("run", str(path), *args)
        assert out.returncode == 2, (name, out.returncode, out.stderr[-2000:])
        assert out.stdout == "", (name, out.stdout[:500])
        lines = out.stderr.splitlines()
        assert len(lines) == 1 and "error" in lines[0], (name, out.stderr[-2000:])


def test_run_takes_auto_or_a_number_of_chunk_shots(tmp_path):
    path = tmp_path / "ghz.qasm"
    path.write_text(QASM)
    auto = qcos("run", str(path), "--shots", "5000", "--seed", "3", "--chunk-shots", "auto", "--full")
    assert auto.returncode == 0, auto.stderr
    result = json.loads(auto.stdout)
    assert len(result["chunks"]) == 1 and result["metadata"]["chunking"]["cost"] == "sampled"
    bad = qcos("run", str(path), "--chunk-shots", "0")
    assert bad.returncode == 2 and "--chunk-shots: must be 'auto' or a positive integer, got '0'" in bad.stderr
    assert "Traceback" not in bad.stderr
