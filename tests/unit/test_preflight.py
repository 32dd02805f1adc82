"""Parse-time checks against the cluster: unknown or non-universal basis gates, circuits too wide."""

from __future__ import annotations

from pathlib import Path

import pytest

from qcos.circuits.sweep import expand_sweeps
from qcos.exceptions import ConfigError
from qcos.workflow.config import load_schema
from qcos.workflow.preflight import check_basis_gates, check_widths, cluster_max_qubits, spec_width

#: the schema's default basis (its one home)
DEFAULT_BASIS = load_schema()["properties"]["transpile"]["properties"]["basis_gates"]["default"]


def test_default_and_valid_bases_pass() -> None:
    check_basis_gates({}, DEFAULT_BASIS)
    check_basis_gates({"basis_gates": ["u", "cz"]}, DEFAULT_BASIS)


def test_unknown_gate_is_named_with_its_index() -> None:
    with pytest.raises(ConfigError, match=r"transpile.basis_gates\[2\]: unknown gate 'cnot'.*\bcx\b"):
        check_basis_gates({"basis_gates": ["rz", "sx", "cnot"]}, DEFAULT_BASIS)


def test_a_basis_that_cannot_express_the_circuits_is_refused() -> None:
    with pytest.raises(ConfigError, match="not universal"):
        check_basis_gates({"basis_gates": ["rz"]}, DEFAULT_BASIS)


def test_circuits_wider_than_every_node_are_refused_by_id(tmp_path: Path) -> None:
    specs = expand_sweeps([{"family": "ghz", "qubits": [5, 36, 40]}])
    with pytest.raises(ConfigError, match=r"ghz-q36 \(36 qubits\), ghz-q40 \(40 qubits\) wider .*34 qubits"):
        check_widths(specs, [{"provider": "lumi_amd_gpu", "gpus": 8}])
    check_widths(specs, [{"provider": "mock", "n_nodes": 1}])  # mock takes 64
    assert cluster_max_qubits([{"provider": "local_cpu", "max_qubits": 12}, {"provider": "slurm"}]) == (
        30, "cluster[1] (slurm)")


def test_qasm_widths_come_from_the_declarations(tmp_path: Path) -> None:
    (tmp_path / "a.qasm").write_text("OPENQASM 3.0;\nqubit[3] q;\nqubit anc;\nbit[4] c;\n")
    (tmp_path / "b.qasm").write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[7];\ncreg c[7];\n')
    specs = expand_sweeps([{"family": "qasm", "path": "*.qasm"}], base_dir=tmp_path)
    assert sorted(spec_width(s, tmp_path) or 0 for s in specs) == [4, 7]
    with pytest.raises(ConfigError, match=r"\(7 qubits\)"):
        check_widths(specs, [{"provider": "local_cpu", "max_qubits": 5}], tmp_path)
