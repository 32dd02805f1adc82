"""NodeProvider.run_tasks: the provider's hooks first, the run's Aer executor for what they leave, outcomes checked."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sample_circuits import ghz

from qcos import (
    ClusterBuilder,
    DistributedQVM,
    NodeProvider,
    NodeProviderRegistry,
    NodeType,
    QPUNodeSpec,
)
from qcos.counts import counts_problem
from qcos.exceptions import DispatchError, NodeExecutionError
from qcos.providers.base import ShotTask, TaskOutcome
from qcos.providers.local import LocalCPUProvider
from qcos.providers.mock import MockProvider
from qcos.qvm.result import FallbackCounts
from qcos.workers import WorkerPool

NODE = QPUNodeSpec(node_id="n-0", node_type=NodeType.CUSTOM, max_qubits=8)


class Recorder:
    """A stand-in for the run's built-in Aer executor that records what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], bool, WorkerPool | None]] = []

    def __call__(self, tasks: Sequence[ShotTask], node: QPUNodeSpec, pool: WorkerPool | None, *,
                 declined: bool) -> list[TaskOutcome]:
        self.calls.append(([t.key for t in tasks], declined, pool))
        return [FallbackCounts({"000": t.shots}) if declined else {"000": t.shots} for t in tasks]


class Scripted(NodeProvider):
    """Answers each chunk from a script: counts, None (leave it to Aer), an exception, or junk."""

    DISPLAY_NAME = "Scripted"
    script: list[object] = []

    def build_nodes(self, n_nodes: int = 1) -> list[QPUNodeSpec]:
        return [QPUNodeSpec(node_id=f"scripted-{i}", node_type=NodeType.CUSTOM, max_qubits=8) for i in range(n_nodes)]

    def execute_batch(self, tasks: Sequence[ShotTask], node_spec: QPUNodeSpec) -> list[TaskOutcome]:
        return list(self.script)  # type: ignore[arg-type]


def tasks(*shots: int) -> list[ShotTask]:
    return [ShotTask(ghz(3), s, seed=i, circuit_index=i) for i, s in enumerate(shots)]


def test_a_provider_that_runs_nothing_itself_goes_straight_to_the_builtin_executor() -> None:
    builtin = Recorder()
    outcomes = LocalCPUProvider().run_tasks(tasks(10, 20), NODE, builtin)
    assert outcomes == [{"000": 10}, {"000": 20}]
    assert builtin.calls == [(["c0/k0", "c1/k0"], False, None)]


def test_chunks_the_provider_declines_fall_back_and_are_marked() -> None:
    provider = Scripted()
    provider.script = [{"111": 10}, None, RuntimeError("busy")]
    builtin = Recorder()
    outcomes = provider.run_tasks(tasks(10, 20, 30), NODE, builtin)
    assert outcomes[0] == {"111": 10} and not isinstance(outcomes[0], FallbackCounts)
    assert isinstance(outcomes[1], FallbackCounts) and outcomes[1] == {"000": 20}
    assert isinstance(outcomes[2], RuntimeError)
    assert builtin.calls == [(["c1/k0"], True, None)]


@pytest.mark.parametrize(("bad", "message"), [
    ({"111": 9}, "counts add up to 9 shots, not 10"),
    ({"111": 10.0}, "not a count"),
    ({"111": True, "000": 9}, "not a count"),
    ({3: 10}, "counts key 3 is not a string"),
    ([("111", 10)], "got list"),
    ({}, "got an empty mapping"),
])
def test_invalid_counts_become_errors_naming_node_chunk_and_problem(bad: object, message: str) -> None:
    provider = Scripted()
    provider.script = [bad]
    [outcome] = provider.run_tasks(tasks(10), NODE, Recorder())
    assert isinstance(outcome, NodeExecutionError)
    assert "node 'n-0'" in str(outcome) and "c0/k0" in str(outcome) and message in str(outcome)


def test_a_wrong_number_of_outcomes_fails_the_whole_batch() -> None:
    provider = Scripted()
    provider.script = [{"111": 10}]
    with pytest.raises(NodeExecutionError, match="execute_batch returned 1 outcomes for 2 chunks"):
        provider.run_tasks(tasks(10, 10), NODE, Recorder())


def test_hex_keys_pass_the_general_rule_but_not_the_wire_rule() -> None:
    assert counts_problem({"0x3": 5}, 5) is None
    assert counts_problem({"0x3": 5}, 5, bitstrings=True) == "counts key '0x3' is not a bitstring"
    assert counts_problem({"0 11": 5}, 5, bitstrings=True) is None


def test_mock_counts_run_through_the_template_unchanged() -> None:
    outcomes = MockProvider().run_tasks(tasks(100), MockProvider().build_nodes()[0], Recorder())
    assert sum(outcomes[0].values()) == 100 and set(outcomes[0]) <= {"000", "111"}  # type: ignore[union-attr]


def test_invalid_counts_in_a_run_are_rerun_elsewhere_and_the_reason_is_kept() -> None:
    class ShortCounts(Scripted):
        DISPLAY_NAME = "Short counts"

        def execute_batch(self, tasks: Sequence[ShotTask], node_spec: QPUNodeSpec) -> list[TaskOutcome]:
            return [{"000": t.shots - 1} for t in tasks]

    NodeProviderRegistry.register("short_counts", ShortCounts, clobber=True)
    try:
        with ClusterBuilder().add("short_counts").add("local_cpu").build() as registry:
            result = DistributedQVM(registry, shots=200, seed=1).run(ghz(3))
            assert result.shots == 200 and result.node_ids == ["local-cpu-0"]
        with ClusterBuilder().add("short_counts").build() as registry:
            with pytest.raises(DispatchError, match="counts add up to 199 shots, not 200"):
                DistributedQVM(registry, shots=200, seed=1).run(ghz(3))
    finally:
        NodeProviderRegistry.unregister("short_counts")


def test_one_admission_rule_for_the_qvm_and_the_workers() -> None:
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    from qcos.circuits.admission import admission_problem

    unmeasured = QuantumCircuit(2)
    assert "measures nothing" in (admission_problem(unmeasured) or "")
    theta = Parameter("theta")
    parametric = QuantumCircuit(1, 1)
    parametric.rx(theta, 0)
    parametric.measure(0, 0)
    assert "unbound parameters (theta)" in (admission_problem(parametric) or "")
    assert admission_problem(parametric, parametric=True) is None
    assert "4 qubits but at most 3" in (admission_problem(ghz(4), max_qubits=3) or "")
    assert admission_problem(ghz(4), max_qubits=0) is None


def test_a_tuple_or_generator_of_outcomes_is_accepted_and_junk_is_not() -> None:
    class Lazy(Scripted):
        DISPLAY_NAME = "Lazy"

        def execute_batch(self, tasks: Sequence[ShotTask], node_spec: QPUNodeSpec) -> list[TaskOutcome]:
            return ({"000": t.shots} for t in tasks)  # type: ignore[return-value]

    assert Lazy().run_tasks(tasks(5, 6), NODE, Recorder()) == [{"000": 5}, {"000": 6}]
    class Junk(Scripted):
        DISPLAY_NAME = "Junk"

        def execute_batch(self, tasks: Sequence[ShotTask], node_spec: QPUNodeSpec) -> list[TaskOutcome]:
            return None  # type: ignore[return-value]

    with pytest.raises(NodeExecutionError, match="returned NoneType outcomes for 1 chunks"):
        Junk().run_tasks(tasks(5), NODE, Recorder())
