"""Circuit families and sweep expansion: ids, parameter forms, seeds, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from qcos.circuits.families import FAMILIES, build_circuit, format_value
from qcos.circuits.qasm import dumps
from qcos.circuits.seeds import derive_seed
from qcos.circuits.sweep import expand_entry, expand_sweeps
from qcos.exceptions import ConfigError


def ids(entry: dict, **kwargs) -> list[str]:
    return [spec.id for spec in expand_entry(entry, **kwargs)]


def test_ids_are_readable_and_ordered_like_the_product() -> None:
    assert ids({"family": "ghz", "qubits": [3, 5, 8]}) == ["ghz-q3", "ghz-q5", "ghz-q8"]
    assert ids({"family": "random", "qubits": [5, 10], "depth": 5, "instances": 2}) == [
        "random-q5-d5-i0", "random-q5-d5-i1", "random-q10-d5-i0", "random-q10-d5-i1",
    ]
    qaoa = ids({"family": "qaoa_ring", "qubits": 6, "gamma": {"linspace": [0, 3.14, 5]}, "beta": [0.2, 0.4]})
    assert qaoa[:3] == ["qaoa_ring-q6-g0-b0.2", "qaoa_ring-q6-g0-b0.4", "qaoa_ring-q6-g0.785-b0.2"]
    assert len(qaoa) == 10


def test_optional_parameters_appear_in_ids_only_off_default() -> None:
    assert ids({"family": "qaoa_ring", "qubits": 4, "gamma": 0.5, "beta": 0.1, "layers": [1, 2]}) == [
        "qaoa_ring-q4-g0.5-b0.1", "qaoa_ring-q4-g0.5-b0.1-p2",
    ]
    assert ids({"family": "random", "qubits": 3, "depth": 2, "density": [0.5, 1]}) == [
        "random-q3-d2-i0", "random-q3-d2-x1-i0",
    ]
    assert ids({"family": "qv", "qubits": [3, 4], "instances": 2}) == ["qv-q3-i0", "qv-q3-i1", "qv-q4-i0", "qv-q4-i1"]


def test_range_and_duplicate_values() -> None:
    assert ids({"family": "ghz", "qubits": {"range": [2, 8, 2]}}) == ["ghz-q2", "ghz-q4", "ghz-q6"]
    assert ids({"family": "ghz", "qubits": [3, 3, 4]}) == ["ghz-q3", "ghz-q4"]
    assert format_value(0.1 + 0.2) == "0.3"
    assert format_value(2.0) == "2"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"family": "ghz", "qubits": -3}, "circuits[0].qubits: -3 is less than the minimum of 1"),
        ({"family": "ghz", "qubits": [2, 0]}, "circuits[0].qubits[1]: 0 is less than the minimum of 1"),
        ({"family": "nope", "qubits": 3}, "unknown family 'nope'; known families: ghz, qaoa_ring, qasm, qft, qv, random"),
        ({"family": "ghz", "qbits": 3}, "unknown key(s) 'qbits' for family 'ghz'; allowed keys: family, qubits"),
        ({"family": "random", "qubits": 3}, "family 'random' needs 'depth'"),
        ({"family": "random", "qubits": 3, "depth": 2, "instances": [1, 2]}, "instances: takes a single value"),
        ({"family": "qaoa_ring", "qubits": 4, "gamma": {"linspace": [0, 1]}, "beta": 0}, "[start, stop, num]"),
        ({"family": "ghz", "qubits": {"linspace": [2, 4, 3]}}, "only float parameters take linspace"),
        ({"family": "ghz", "qubits": 2.5}, "2.5 is not an integer"),
        ({"family": "random", "qubits": 3, "depth": 2, "density": 1.5}, "density: 1.5 is more than the maximum of 1"),
    ],
)
def test_bad_entries_name_the_key(entry: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        expand_entry(entry, 0)
    assert message in str(info.value)


def test_duplicate_ids_across_entries_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"circuits\[1\]: circuit id 'ghz-q5' is also produced by circuits\[0\]"):
        expand_sweeps([{"family": "ghz", "qubits": [3, 5]}, {"family": "ghz", "qubits": [5, 8]}])


def test_qasm_glob_is_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "b ell.qasm").write_text('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nh q[0];\ncx q[0], q[1];\n')
    specs = expand_entry({"family": "qasm", "path": "c/*.qasm"}, 0, base_dir=tmp_path)
    assert [(s.id, s.params["path"]) for s in specs] == [("qasm-b_ell", "c/b ell.qasm")]
    with pytest.raises(ConfigError, match="matches no file"):
        expand_entry({"family": "qasm", "path": "missing/*.qasm"}, 0, base_dir=tmp_path)


def test_every_family_builds_a_measured_circuit_that_exports(tmp_path: Path) -> None:
    qasm = tmp_path / "x.qasm"
    qasm.write_text('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nh q[0];\ncx q[0], q[1];\n')
    entries = {
        "ghz": {"qubits": 3}, "qft": {"qubits": 3}, "random": {"qubits": 3, "depth": 3},
        "qaoa_ring": {"qubits": 4, "gamma": 0.3, "beta": 0.2}, "qasm": {"path": str(qasm)},
    }
    assert set(entries) <= set(FAMILIES)
    for family, params in entries.items():
        spec = expand_entry({"family": family, **params}, 0)[0]
        circuit = build_circuit(spec.family, spec.params, spec.id, 7)
        assert circuit.name == spec.id
        assert circuit.num_clbits == circuit.num_qubits
        assert "OPENQASM 3" in dumps(circuit)


def test_random_circuits_depend_on_seed_and_id_only() -> None:
    spec = expand_entry({"family": "random", "qubits": 4, "depth": 4, "instances": 2}, 0)
    first = dumps(build_circuit("random", spec[0].params, spec[0].id, 1234))
    assert first == dumps(build_circuit("random", spec[0].params, spec[0].id, 1234))
    assert first != dumps(build_circuit("random", spec[1].params, spec[1].id, 1234))
    assert first != dumps(build_circuit("random", spec[0].params, spec[0].id, 99))
    assert derive_seed(1, "a") == derive_seed(1, "a") != derive_seed(1, "b")


def test_one_seed_function_keeps_the_seeds_of_earlier_runs() -> None:
    # values of the former families.derive_seed and qvm.seeds.chunk_seed: recorded runs repeat
    assert derive_seed(7, "q5") == 280589001
    assert derive_seed(7, "abc", 3) == 170562240


def test_ten_thousand_ids_take_well_under_a_second() -> None:
    specs = expand_sweeps([{"family": "random", "qubits": {"range": [2, 12]}, "depth": {"range": [1, 11]}, "instances": 100}])
    assert len(specs) == 10_000
    assert len({s.id for s in specs}) == 10_000


def test_float_range_excludes_the_stop_even_when_rounding_reaches_it() -> None:
    from qcos.circuits.sweep import _float_range

    assert _float_range(0.1, 0.4, 0.1) == [0.1, 0.2, 0.3]
    assert _float_range(0.0, 0.3, 0.1) == [0.0, 0.1, 0.2]
    assert _float_range(0.0, 1.0, 0.25) == [0.0, 0.25, 0.5, 0.75]
    assert _float_range(1.0, 0.0, -0.5) == [1.0, 0.5]
    assert _float_range(0.0, 0.35, 0.1) == [0.0, 0.1, 0.2, 0.3]
    params = [s.params["gamma"] for s in expand_sweeps([{"family": "qaoa_ring", "qubits": 4,
                                                         "gamma": {"range": [0.1, 0.4, 0.1]}, "beta": 0.2}])]
    assert params == [0.1, 0.2, 0.3]
