"""Hostile but valid OpenQASM against a real bridge: 4xx (or correct counts), never a 5xx, never
a dead worker; custom_rest does not resend circuit-caused errors; other clients keep being served."""

from __future__ import annotations

import threading

import httpx
import pytest
from bridge_helpers import GHZ3
from helpers import wait_for
from qiskit import QuantumCircuit

from qcos import ClusterBuilder, DistributedQVM
from qcos.exceptions import DispatchError

HEADER = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'
POISON = {
    "const-sized register": HEADER + "const uint n = 2;\nqubit[n] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n",
    "1e5 nested parentheses": HEADER + "qubit[1] q;\nbit[1] c;\nrx(" + "(" * 100_000 + "0.5" + ")" * 100_000
    + ") q[0];\nc = measure q;\n",
    "5000 nested ifs": HEADER + "qubit[1] q;\nbit[1] c;\n" + "if (c[0]) { " * 5000 + "x q[0];" + " }" * 5000
    + "\nc = measure q;\n",
    "exponential gate": HEADER + "gate g0 a { x a; }\n"
    + "".join(f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}\n" for i in range(1, 61)) + "qubit[1] q;\nbit[1] c;\ng60 q[0];\nc = measure q;\n",
}


def post(bridge, body, *, client: httpx.Client | None = None) -> httpx.Response:
    if client is not None:
        return client.post("/run-circuit", json=body)
    return httpx.post(bridge.url + "/run-circuit", json=body, headers=bridge.headers(), timeout=120)


@pytest.mark.parametrize("name", sorted(POISON))
def test_hostile_programs_get_a_4xx_or_correct_counts_and_no_worker_dies(bridge, name):
    before = bridge.health()
    response = post(bridge, {"qasm": POISON[name], "shots": 100})
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert sum(response.json()["counts"].values()) == 100
    else:
        detail = response.json()["detail"]
        assert detail and "\n" not in detail and len(detail) <= 600
        assert response.headers.get("x-qcos-error-cause") == "circuit" or response.status_code == 422
    after = bridge.health()
    assert after["worker_pids"] == before["worker_pids"] and after["restarts"] == before["restarts"]


def test_a_valid_client_is_served_while_two_clients_loop_poison(bridge):
    stop = threading.Event()
    poison_statuses: list[int] = []
    valid: list[bool] = []

    def poisoner(offset: int) -> None:
        names = sorted(POISON)
        with httpx.Client(base_url=bridge.url, headers=bridge.headers(), timeout=120) as client:
            i = offset
            while not stop.is_set():
                poison_statuses.append(post(bridge, {"qasm": POISON[names[i % len(names)]], "shots": 10},
                                            client=client).status_code)
                i += 1

    def honest() -> None:
        with httpx.Client(base_url=bridge.url, headers=bridge.headers(), timeout=120) as client:
            while not stop.is_set():
                try:
                    response = post(bridge, {"qasm": GHZ3, "shots": 50}, client=client)
                    valid.append(response.status_code == 200 and sum(response.json()["counts"].values()) == 50)
                except httpx.HTTPError:
                    valid.append(False)

    threads = [threading.Thread(target=poisoner, args=(i,)) for i in range(2)] + [threading.Thread(target=honest)]
    for thread in threads:
        thread.start()
    try:  # poison keeps coming while the valid client makes its requests (however loaded the machine)
        wait_for(lambda: len(valid) >= 20 and len(poison_statuses) >= 8, 240,
                 "20 valid requests and 8 poison ones to be answered")
    finally:
        stop.set()
    for thread in threads:
        thread.join(timeout=180)
    assert valid and poison_statuses
    assert sum(valid) / len(valid) >= 0.95, f"valid client served {sum(valid)}/{len(valid)}"
    assert all(400 <= status < 500 for status in poison_statuses), sorted(set(poison_statuses))


def nested_gate_circuit(levels: int) -> QuantumCircuit:
    """A circuit Qiskit writes as OpenQASM with gate definitions that double at each level."""
    gate = QuantumCircuit(1, name="g0")
    gate.x(0)
    gate = gate.to_gate()
    for level in range(1, levels + 1):
        body = QuantumCircuit(1, name=f"g{level}")
        body.append(gate, [0])
        body.append(gate, [0])
        gate = body.to_gate()
    circuit = QuantumCircuit(1, 1, name="nested")
    circuit.append(gate, [0])
    circuit.measure(0, 0)
    return circuit


def test_custom_rest_sends_a_circuit_caused_error_once_and_keeps_its_nodes(bridge):
    registry = ClusterBuilder().add("custom_rest", endpoints=[bridge.url] * 3, api_key=bridge.api_key,
                                    max_qubits=12, batch=False, retries=3).build()
    try:
        before = bridge.health()["jobs_completed"]
        with pytest.raises(DispatchError, match="expands to") as caught:
            DistributedQVM(registry, shots=10, seed=1, chunk_shots=10).run(nested_gate_circuit(16))
        assert bridge.health()["jobs_completed"] == before + 1  # one request: no retry, no other node
        assert "dropping" not in str(caught.value)
        assert all(node.online for node in registry.nodes)
        result = DistributedQVM(registry, shots=30, seed=1).run(nested_gate_circuit(2))
        assert result.counts == {"1": 30} or result.counts == {"0": 30}
    finally:
        registry.close()
