"""custom_rest provider logic against a mocked HTTP transport (the real servers are in integration/bridge)."""

from __future__ import annotations

import dataclasses
import inspect
import json

import httpx
import pytest
from qiskit import QuantumCircuit

import qcos.providers.rest.wire as wire
from qcos.exceptions import (
    CircuitError,
    ClusterBuildError,
    EndpointUnreachable,
    NodeExecutionError,
    QasmError,
    RetryDecision,
    retry_decision,
)
from qcos.providers import ClusterBuilder, NodeType
from qcos.providers.base import ShotTask
from qcos.providers.rest import (
    CustomRESTProvider,
    RestSettings,
    build_rest_nodes,
    display_endpoint,
    normalize_endpoint,
    repoint_nodes,
)

URL = "http://bridge.test:8888"


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2, 2, name="bell")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    return circuit


class FakeServer:
    """Answers like a bridge; ``script`` overrides answers per call, ``calls`` records requests."""

    def __init__(self, *, batch: bool = True, max_qubits: int = 30) -> None:
        self.calls: list[httpx.Request] = []
        self.script: list = []
        self.health = {"status": "ok", "batch": batch, "max_qubits": max_qubits}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if self.script:
            answer = self.script.pop(0)
            if isinstance(answer, Exception):
                raise answer
            if isinstance(answer, httpx.Response):
                return answer
        if request.url.path == "/health":
            return httpx.Response(200, json=self.health)
        body = json.loads(request.content)
        if request.url.path == "/run-circuit":
            return httpx.Response(200, json={"counts": split(body["shots"])})
        if request.url.path == "/run-batch":
            return httpx.Response(200, json={"results": [
                {"counts": split(item["shots"])} if item["shots"] != 13 else {"error": "unlucky", "status": 422}
                for item in body["circuits"]
            ]})
        return httpx.Response(404, json={"detail": "Not Found"})

    def paths(self) -> list[str]:
        return [c.url.path for c in self.calls]


def split(shots: int) -> dict[str, int]:
    return {"00": shots // 2, "11": shots - shots // 2}


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


def make(server: FakeServer, endpoints=(URL,), **kwargs) -> tuple[CustomRESTProvider, list]:
    provider = CustomRESTProvider()
    provider.transport = httpx.MockTransport(server)
    kwargs.setdefault("backoff_s", 0.0)
    nodes = provider.build_nodes(endpoints=list(endpoints), **kwargs)
    return provider, nodes


# -- building nodes -------------------------------------------------------------------
def test_one_node_per_endpoint_with_hidden_credentials():
    provider = CustomRESTProvider()
    nodes = provider.build_nodes(endpoints=[URL + "/", URL, "https://other.test"], max_qubits=34, api_key="s3cret")
    assert [n.node_id for n in nodes] == ["custom-rest-0", "custom-rest-1", "custom-rest-2"]
    assert all(n.node_type is NodeType.REST and n.max_qubits == 34 and "rest" in n.tags for n in nodes)
    assert nodes[0].credentials == {"endpoint": URL, "api_key": "s3cret"}
    assert "s3cret" not in repr(nodes[0]) and "s3cret" not in json.dumps(nodes[0].public_dict())


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"endpoints": []}, "non-empty list"),
        ({"endpoints": URL}, "non-empty list"),
        ({"endpoints": ["localhost:8888"]}, "not an http(s) URL"),
        ({"endpoints": ["ftp://host"]}, "not an http(s) URL"),
        ({"endpoints": ["http://host:99999"]}, "invalid port"),
        ({"endpoints": ["http://host/x?y=1"]}, "query"),
        ({"endpoints": [42]}, "URL string"),
        ({"endpoints": [URL], "api_key": ""}, "api_key"),
        ({"endpoints": [URL], "max_qubits": 0}, "max_qubits"),
        ({"endpoints": [URL], "timeout_s": 0}, "timeout_s"),
        ({"endpoints": [URL], "retries": -1}, "retries"),
        ({"endpoints": [URL], "tags": "gpu"}, "tags"),
        ({"endpoints": [URL], "batch": "yes"}, "batch"),
        ({"endpoints": [URL], "verify": 3}, "verify"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, needle):
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        CustomRESTProvider().build_nodes(**kwargs)


def test_cluster_builder_lists_valid_kwargs_on_typos():
    with pytest.raises(ClusterBuildError, match="endpoints"):
        ClusterBuilder().add("custom_rest", endpoint=URL).build()


def test_helpers_for_other_providers():
    nodes = build_rest_nodes([URL, URL], id_prefix="ssh-bridge", max_qubits=20, api_key="k", tags=["lumi"])
    assert [n.node_id for n in nodes] == ["ssh-bridge-0", "ssh-bridge-1"] and nodes[0].tags == ["rest", "lumi"]
    repoint_nodes(nodes, "http://127.0.0.1:40001/")
    assert {n.credentials["endpoint"] for n in nodes} == {"http://127.0.0.1:40001"}
    assert display_endpoint("http://user:pw@host:1/x") == "http://host:1/x"
    assert normalize_endpoint("HTTP://Host:8/a/") == "http://Host:8/a"


# -- executing --------------------------------------------------------------------------
def test_execute_sends_the_contract_body_and_key(server):
    provider, nodes = make(server, api_key="k1")
    counts = provider.execute(bell(), 100, nodes[0], seed=9)
    assert counts == {"00": 50, "11": 50}
    request = server.calls[-1]
    assert request.url == URL + "/run-circuit" and request.headers["authorization"] == "Bearer k1"
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert body["shots"] == 100 and body["seed"] == 9 and body["qasm"].startswith("OPENQASM 3.0;")
    provider.execute(bell(), 10, nodes[0])
    assert "seed" not in json.loads(server.calls[-1].content)


def test_retries_5xx_then_succeeds(server):
    provider, nodes = make(server, retries=2)
    server.script = [httpx.Response(503, json={"detail": "busy"}), httpx.Response(500, text="oops")]
    assert sum(provider.execute(bell(), 10, nodes[0]).values()) == 10
    assert len(server.calls) == 3


def test_gives_up_after_retries_naming_the_endpoint(server):
    provider, nodes = make(server, retries=1)
    server.script = [httpx.Response(503, json={"detail": "busy"})] * 2
    with pytest.raises(NodeExecutionError, match=r"bridge.test:8888/run-circuit.*HTTP 503: busy"):
        provider.execute(bell(), 10, nodes[0])
    assert len(server.calls) == 2


def test_504_and_4xx_are_not_retried(server):
    provider, nodes = make(server, retries=3)
    server.script = [httpx.Response(504, json={"detail": "too slow"})]
    with pytest.raises(NodeExecutionError, match="504: too slow"):
        provider.execute(bell(), 10, nodes[0])
    server.script = [httpx.Response(401, json={"detail": "Unauthorized"})]
    with pytest.raises(NodeExecutionError, match="check api_key"):
        provider.execute(bell(), 10, nodes[0])
    assert len(server.calls) == 2


def test_connection_errors_retry_then_raise_unreachable(server):
    provider, nodes = make(server, retries=2, api_key="hidden-key")
    server.script = [httpx.ConnectError("refused")] * 3
    with pytest.raises(EndpointUnreachable) as error:
        provider.execute(bell(), 10, nodes[0])
    assert error.value.node_id == "custom-rest-0" and URL in str(error.value) and "3 attempt" in str(error.value)
    assert "hidden-key" not in str(error.value)


def test_read_timeout_is_not_retried(server):
    provider, nodes = make(server, retries=2)
    server.script = [httpx.ReadTimeout("slow")]
    with pytest.raises(NodeExecutionError, match="no answer within"):
        provider.execute(bell(), 10, nodes[0])
    assert len(server.calls) == 1


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        (httpx.Response(200, json={"counts": {"00": 5, "11": 4}}), "add up to 9 shots, not 10"),
        (httpx.Response(200, json={"counts": {"00": 10.0}}), "not a count"),
        (httpx.Response(200, json={"counts": {"00": True, "11": 9}}), "not a count"),
        (httpx.Response(200, json={"counts": {"0x3": 10}}), "not a bitstring"),
        (httpx.Response(200, json={"counts": {}}), "non-empty"),
        (httpx.Response(200, json={"result": {}}), "without a 'counts'"),
        (httpx.Response(200, text="<html>"), "not JSON"),
    ],
)
def test_responses_are_validated(server, answer, needle):
    provider, nodes = make(server)
    server.script = [answer]
    with pytest.raises(NodeExecutionError, match=needle):
        provider.execute(bell(), 10, nodes[0])


# -- batches ------------------------------------------------------------------------------
def tasks(circuits, shots):
    return [ShotTask(c, s, seed=i, circuit_index=i) for i, (c, s) in enumerate(zip(circuits, shots, strict=True))]


def test_execute_batch_uses_the_batch_endpoint_and_caches_qasm(server, monkeypatch):
    provider, nodes = make(server)
    dumped = []
    real = wire.qasm_text
    monkeypatch.setattr(wire, "qasm_text", lambda c: dumped.append(c) or real(c))
    a, b = bell(), bell()
    outcomes = provider.execute_batch(tasks([a, a, b, a, b], [10, 20, 13, 40, 50]), nodes[0])
    assert server.paths() == ["/health", "/run-batch"]
    assert [sum(o.values()) for o in outcomes if isinstance(o, dict)] == [10, 20, 40, 50]
    assert isinstance(outcomes[2], NodeExecutionError) and "unlucky" in str(outcomes[2])
    assert len(dumped) == 2  # one dumps per circuit object within the batch
    body = json.loads(server.calls[-1].content)
    assert [c["seed"] for c in body["circuits"]] == [0, 1, 2, 3, 4]


def test_execute_batch_falls_back_to_one_by_one(server):
    server.health["batch"] = False
    provider, nodes = make(server)
    outcomes = provider.execute_batch(tasks([bell()] * 3, [10, 20, 30]), nodes[0])
    assert [sum(o.values()) for o in outcomes] == [10, 20, 30]
    assert server.paths() == ["/health", "/run-circuit", "/run-circuit", "/run-circuit"]


def test_batch_pieces_respect_batch_size(server):
    provider, nodes = make(server, batch=True, batch_size=2)
    outcomes = provider.execute_batch(tasks([bell()] * 5, [1, 2, 3, 4, 5]), nodes[0])
    assert server.paths() == ["/run-batch"] * 3 and [sum(o.values()) for o in outcomes] == [1, 2, 3, 4, 5]


def test_unreachable_endpoint_fails_the_rest_of_a_batch_fast(server):
    provider, nodes = make(server, batch=False, retries=1)
    server.script = [httpx.ConnectError("refused")] * 2
    outcomes = provider.execute_batch(tasks([bell()] * 4, [10] * 4), nodes[0])
    assert all(isinstance(o, EndpointUnreachable) for o in outcomes)
    assert len(server.calls) == 2


def test_missing_batch_endpoint_is_remembered(server):
    provider, nodes = make(server)
    server.script = [httpx.Response(200, json={"status": "ok", "batch": True}), httpx.Response(404, json={})]
    first = provider.execute_batch(tasks([bell()] * 2, [10, 10]), nodes[0])
    assert all(isinstance(o, NodeExecutionError) for o in first)
    second = provider.execute_batch(tasks([bell()] * 2, [10, 10]), nodes[0])
    assert [sum(o.values()) for o in second] == [10, 10]
    assert server.paths()[-2:] == ["/run-circuit", "/run-circuit"]


# -- health -------------------------------------------------------------------------------
def test_health_check_marks_failing_endpoints_offline_and_back(server):
    down = {"flag": True}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "down.test" and down["flag"]:
            raise httpx.ConnectError("refused")
        return server(request)

    provider = CustomRESTProvider()
    provider.transport = httpx.MockTransport(handler)
    nodes = provider.build_nodes(endpoints=[URL, "http://down.test:1", URL], max_qubits=40)
    assert provider.health_check() is True
    assert [n.online for n in nodes] == [True, False, True]
    assert nodes[1].offline_reason.startswith("endpoint unhealthy: http://down.test:1: unreachable")
    assert "down.test" in provider.health_reason
    assert nodes[0].max_qubits == 30  # lowered to what /health advertises
    down["flag"] = False
    assert provider.health_check() is True and all(n.online for n in nodes) and provider.health_reason is None


def test_health_check_false_when_every_endpoint_fails(server):
    server.health["status"] = "starting"
    provider, nodes = make(server)
    assert provider.health_check() is False
    assert "not 'ok'" in provider.health_reason and not nodes[0].online


def test_repoint_moves_nodes_to_a_new_port(server):
    provider, nodes = make(server, endpoints=[URL, URL, "http://other.test:1"])
    assert provider.repoint(URL, "http://127.0.0.1:40002") == 2
    provider.execute(bell(), 10, nodes[1])
    assert str(server.calls[-1].url) == "http://127.0.0.1:40002/run-circuit"
    assert nodes[2].credentials["endpoint"] == "http://other.test:1"


def test_circuits_without_openqasm3_form_fail_alone(server):
    provider, nodes = make(server)
    odd = QuantumCircuit(2, 2, name="odd")
    odd.initialize([0, 1, 0, 0])
    odd.measure([0, 1], [0, 1])
    with pytest.raises(NodeExecutionError, match="cannot send 'odd' as OpenQASM 3"):
        provider.execute(odd, 10, nodes[0])
    outcomes = provider.execute_batch(tasks([bell(), odd, bell()], [10, 20, 30]), nodes[0])
    assert isinstance(outcomes[1], NodeExecutionError) and "odd" in str(outcomes[1])
    assert [sum(outcomes[i].values()) for i in (0, 2)] == [10, 30]
    assert len(json.loads(server.calls[-1].content)["circuits"]) == 2


# -- typed retry decisions and the settings list -------------------------------------------
@pytest.mark.parametrize(
    ("failure", "cause", "decision"),
    [
        (503, None, RetryDecision.RETRY),
        (429, None, RetryDecision.RETRY),
        (500, "node", RetryDecision.RETRY),
        (504, None, RetryDecision.ELSEWHERE),
        (401, None, RetryDecision.ELSEWHERE),
        (422, "circuit", RetryDecision.NEVER),
        (503, "Circuit", RetryDecision.NEVER),
        (CircuitError("n", "bad"), None, RetryDecision.NEVER),
        (QasmError("line 3: bad"), None, RetryDecision.NEVER),
        (EndpointUnreachable("n", "refused"), None, RetryDecision.RETRY),
        (NodeExecutionError("n", "broke"), None, RetryDecision.ELSEWHERE),
        (ConnectionResetError(), None, RetryDecision.RETRY),
        (TimeoutError(), None, RetryDecision.ELSEWHERE),
    ],
)
def test_retry_decision_from_status_or_exception(failure, cause, decision):
    assert retry_decision(failure, cause=cause) is decision


def test_circuit_caused_answer_is_a_circuit_error_sent_once(server):
    provider, nodes = make(server, retries=3)
    server.script = [httpx.Response(503, json={"detail": "killed a worker"}, headers={"X-Qcos-Error-Cause": "circuit"})]
    with pytest.raises(CircuitError, match="killed a worker"):
        provider.execute(bell(), 10, nodes[0])
    assert len(server.calls) == 1


def test_batch_items_labelled_circuit_are_circuit_errors(server):
    provider, nodes = make(server, batch=True)
    server.script = [httpx.Response(200, json={"results": [
        {"counts": {"00": 10}}, {"error": "poison", "status": 422, "cause": "circuit"}, {"error": "busy", "status": 503},
    ]})]
    outcomes = provider.execute_batch(tasks([bell()] * 3, [10, 10, 10]), nodes[0])
    assert outcomes[0] == {"00": 10}
    assert isinstance(outcomes[1], CircuitError) and "poison" in str(outcomes[1])
    assert type(outcomes[2]) is NodeExecutionError and "busy" in str(outcomes[2])


def test_build_nodes_takes_every_setting_with_its_default():
    parameters = inspect.signature(CustomRESTProvider.build_nodes).parameters
    for field in dataclasses.fields(RestSettings):
        assert parameters[field.name].default == field.default, field.name
    provider = CustomRESTProvider()
    provider.build_nodes(endpoints=[URL], timeout_s=7, batch_size=3)
    assert provider.settings == RestSettings(timeout_s=7.0, batch_size=3)
    provider.configure(retries=0)
    assert provider.settings == RestSettings(retries=0)
    with pytest.raises(ValueError, match="batch_size"):
        provider.configure(provider.settings, batch_size=0)


def test_retry_policy_backs_off_exponentially_and_honours_retry_after(monkeypatch):
    import qcos.providers.rest.retry as retry

    monkeypatch.setattr(retry.random, "random", lambda: 0.5)  # jitter factor 1.0
    policy = retry.RetryPolicy(retries=3, backoff_s=0.25)
    assert [policy.delay(n, None) for n in (1, 2, 3)] == [0.25, 0.5, 1.0]
    assert policy.delay(1, httpx.Response(503, headers={"Retry-After": "4"})) == 4.0
    assert policy.delay(1, httpx.Response(503, headers={"Retry-After": "3600"})) == retry.MAX_RETRY_AFTER_S
    assert policy.delay(3, httpx.Response(503, headers={"Retry-After": "soon"})) == 1.0
    assert policy.attempts == 4


def test_health_probe_names_a_wordless_transport_error():
    """An httpx error without text still gives a readable reason (was 'ConnectError: ')."""
    from qcos.providers.rest.health import probe
    from qcos.providers.spec import QPUNodeSpec

    class Silent:
        def get_health(self, endpoint, node):
            raise httpx.ConnectError("")

    node = QPUNodeSpec(node_id="rest-0", node_type=NodeType.REST, max_qubits=5)
    reason, announced = probe(Silent(), "http://127.0.0.1:9", node)
    assert reason == "unreachable (ConnectError: no answer)"
    assert announced == {}
