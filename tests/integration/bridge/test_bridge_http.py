"""The bridge's HTTP contract against a real ``qcos bridge serve`` subprocess on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from bridge_helpers import GHZ3, MAX_QUBITS, MAX_SHOTS, TIMEOUT_S, ghz, slow_qasm
from helpers import wait_for

pytestmark = pytest.mark.slow


def post(bridge, path: str, body, *, headers=None, auth=True, **kwargs) -> httpx.Response:
    all_headers = dict(bridge.headers() if auth else {})
    all_headers.update(headers or {})
    if isinstance(body, (bytes, str)) or body is None:
        all_headers.setdefault("Content-Type", "application/json")
        return httpx.post(bridge.url + path, content=body, headers=all_headers, timeout=60, **kwargs)
    return httpx.post(bridge.url + path, json=body, headers=all_headers, timeout=60, **kwargs)


# -- the contract -------------------------------------------------------------
def test_health_describes_the_bridge_to_key_holders(bridge):
    response = httpx.get(bridge.url + "/health", headers=bridge.headers(), timeout=5)
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "ok"
    assert data["batch"] is True and data["auth"] is True
    assert data["max_qubits"] == MAX_QUBITS and data["max_shots"] == MAX_SHOTS
    assert data["workers"] == 2 and data["queue_depth"] >= 0 and data["device"] == "CPU"


def test_ghz_counts(bridge):
    response = post(bridge, "/run-circuit", {"qasm": ghz(5), "shots": 2048})
    assert response.status_code == 200, response.text
    counts = response.json()["counts"]
    assert set(counts) <= {"00000", "11111"} and sum(counts.values()) == 2048
    assert min(counts.values()) > 800  # both outcomes, roughly half each


def test_default_shots_and_seed_reproducibility(bridge):
    first = post(bridge, "/run-circuit", {"qasm": GHZ3, "seed": 42}).json()["counts"]
    again = post(bridge, "/run-circuit", {"qasm": GHZ3, "seed": 42}).json()["counts"]
    assert sum(first.values()) == 1024 and first == again


def test_method_field_and_openqasm2(bridge):
    qasm2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n'
    response = post(bridge, "/run-circuit", {"qasm": qasm2, "shots": 100, "method": "stabilizer", "extra": 1})
    assert response.status_code == 200, response.text
    assert set(response.json()["counts"]) <= {"00", "11"}


def test_batch_endpoint_mixes_results_and_errors(bridge):
    body = {"circuits": [
        {"qasm": GHZ3, "shots": 100, "seed": 1},
        {"qasm": "OPENQASM 3.0;\nqubit[1] q;\nnot_a_gate q[0];\n", "shots": 10},
        {"qasm": ghz(4), "shots": 50},
        {"qasm": ghz(MAX_QUBITS + 1), "shots": 5},
    ]}
    response = post(bridge, "/run-batch", body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 4
    assert sum(results[0]["counts"].values()) == 100 and sum(results[2]["counts"].values()) == 50
    assert results[1]["status"] == 400 and "not_a_gate" in results[1]["error"]
    assert results[3]["status"] == 422 and str(MAX_QUBITS) in results[3]["error"]
    same = post(bridge, "/run-circuit", {"qasm": GHZ3, "shots": 100, "seed": 1}).json()["counts"]
    assert same == results[0]["counts"]


def test_large_batch_runs_in_order(bridge):
    circuits = [{"qasm": ghz(2 + i % 4), "shots": 10 + i} for i in range(120)]
    results = post(bridge, "/run-batch", {"circuits": circuits}).json()["results"]
    for i, result in enumerate(results):
        assert sum(result["counts"].values()) == 10 + i
        assert len(next(iter(result["counts"]))) == 2 + i % 4


# -- authentication --------------------------------------------------------------
@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Basic abc", "Bearer", "Bearer  x"])
def test_wrong_or_missing_key_is_refused(bridge, header):
    headers = {"Authorization": header} if header is not None else {}
    response = post(bridge, "/run-circuit", {"qasm": GHZ3, "shots": 10}, headers=headers, auth=False)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert bridge.api_key not in response.text


def test_key_is_accepted_with_any_scheme_case(bridge):
    headers = {"Authorization": f"bearer {bridge.api_key}"}
    assert post(bridge, "/run-circuit", {"qasm": GHZ3, "shots": 10}, headers=headers, auth=False).status_code == 200


def test_auth_is_checked_before_the_body(bridge):
    response = post(bridge, "/run-circuit", b"{not json", auth=False)
    assert response.status_code == 401


# -- bad input: clear 4xx, never 5xx ---------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{not json", 400, "not valid JSON at line 1"),
        (b"", 400, "empty request body"),
        (b"\xff\xfe\x00garbage", 400, "not valid JSON"),
        (b"[" * 100_000, 400, "not valid JSON"),
        (b'{"shots": ' + b"9" * 5000 + b"}", 400, "not valid JSON"),
        (b"[1, 2]", 422, "valid dictionary"),
        (b'{"shots": 10}', 422, "qasm: Field required"),
        (json.dumps({"qasm": GHZ3, "shots": 0}).encode(), 422, "shots: Input should be greater than or equal to 1"),
        (json.dumps({"qasm": GHZ3, "shots": -5}).encode(), 422, "shots"),
        (json.dumps({"qasm": GHZ3, "shots": "10"}).encode(), 422, "shots: Input should be a valid integer"),
        (json.dumps({"qasm": GHZ3, "shots": 10.5}).encode(), 422, "shots"),
        (json.dumps({"qasm": GHZ3, "shots": True}).encode(), 422, "shots"),
        (json.dumps({"qasm": GHZ3, "shots": MAX_SHOTS + 1}).encode(), 422, f"limit of {MAX_SHOTS}"),
        (json.dumps({"qasm": GHZ3, "seed": -1}).encode(), 422, "seed"),
        (json.dumps({"qasm": GHZ3, "seed": 2**64}).encode(), 422, "seed"),
        (json.dumps({"qasm": GHZ3, "method": "teleport"}).encode(), 422, "method"),
        (json.dumps({"qasm": 42}).encode(), 422, "qasm: Input should be a valid string"),
        (json.dumps({"qasm": ""}).encode(), 422, "qasm"),
    ],
)
def test_bad_bodies_get_clear_4xx(bridge, body, status, needle):
    response = post(bridge, "/run-circuit", body)
    assert response.status_code == status, response.text
    assert needle in response.json()["detail"]


@pytest.mark.parametrize(
    ("qasm", "status", "needle"),
    [
        ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0]\ncx q[0], q[1];\n', 400, "line"),
        ("OPENQASM 3.0;\nqubit[2] q;\nfrobnicate q[0];\n", 400, "frobnicate"),
        ("this is not quantum", 400, "invalid OpenQASM"),
        ('OPENQASM 3.0;\ninclude "/etc/passwd";\nqubit[1] q;\n', 400, "not allowed"),
        ('OPENQASM 2.0;\ninclude "../secrets.inc";\nqreg q[1];\n', 400, "not allowed"),
        (ghz(MAX_QUBITS + 1), 422, f"at most {MAX_QUBITS}"),
        ("OPENQASM 3.0;\nqubit[100000000] q;\n", 422, f"at most {MAX_QUBITS}"),
        ('OPENQASM 3.0;\ninclude "stdgates.inc";\nbit[1] c;\nh $5000000;\nc[0] = measure $0;\n', 422, "qubits"),
        ("OPENQASM 3.0;\nbit[5000000] c;\n", 422, "classical bits"),
        ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nh q[0];\n', 422, "measures nothing"),
        ('OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float theta;\nqubit[1] q;\nbit[1] c;\nrx(theta) q[0];\nc = measure q;\n',
         422, "unbound"),
    ],
)
def test_bad_circuits_get_clear_4xx(bridge, qasm, status, needle):
    response = post(bridge, "/run-circuit", {"qasm": qasm, "shots": 10})
    assert response.status_code == status, response.text
    assert needle in response.json()["detail"]


def test_qasm_error_names_line_and_column(bridge):
    bad = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0]\ncx q[0], q[1];\n'
    detail = post(bridge, "/run-circuit", {"qasm": bad, "shots": 10}).json()["detail"]
    assert "line 6" in detail and "column" in detail


def test_wrong_content_type_is_415(bridge):
    response = httpx.post(bridge.url + "/run-circuit", content=json.dumps({"qasm": GHZ3}),
                          headers={**bridge.headers(), "Content-Type": "text/plain"}, timeout=30)
    assert response.status_code == 415 and "application/json" in response.json()["detail"]


def test_body_too_large_is_413_with_content_length(bridge):
    body = json.dumps({"qasm": GHZ3 + "// " + "x" * (2 * 2**20), "shots": 10}).encode()
    response = post(bridge, "/run-circuit", body)
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def test_body_too_large_is_413_when_streamed(bridge):
    def chunks():
        yield b'{"qasm": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = httpx.post(bridge.url + "/run-circuit", content=chunks(),
                          headers={**bridge.headers(), "Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 413


def test_stalled_body_is_408(bridge):
    port = int(bridge.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(
            b"POST /run-circuit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {bridge.api_key}\r\nContent-Length: 100\r\n\r\n".encode()
            + b'{"qasm": "OPEN'
        )
        started = time.monotonic()
        answer = b""
        while b"body-timeout-s" not in answer and time.monotonic() - started < 120:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408") and b"body-timeout-s" in answer
    assert time.monotonic() - started > 1.5  # it waited for the body (how long exactly is the server's business)


def test_batch_limits_and_shapes(bridge):
    assert post(bridge, "/run-batch", {"circuits": []}).status_code == 422
    assert post(bridge, "/run-batch", {"circuits": "nope"}).status_code == 422
    too_many = {"circuits": [{"qasm": GHZ3, "shots": 1}] * 501}
    response = post(bridge, "/run-batch", too_many)
    assert response.status_code == 422 and "at most 500" in response.json()["detail"]
    response = post(bridge, "/run-batch", {"circuits": [{"qasm": GHZ3, "shots": 1}, {"qasm": GHZ3, "shots": 0}]})
    assert response.status_code == 422 and "circuits.1.shots" in response.json()["detail"]


def test_unknown_paths_and_methods(bridge):
    assert httpx.get(bridge.url + "/run-circuit", timeout=5).status_code == 405
    assert httpx.get(bridge.url + "/nope", timeout=5).status_code == 404
    assert httpx.get(bridge.url + "/docs", timeout=5).status_code == 404


# -- concurrency, timeouts and crashes -------------------------------------------------
def test_concurrent_clients(bridge):
    def client(i: int) -> list[int]:
        with httpx.Client(headers=bridge.headers(), timeout=60) as session:
            totals = []
            for j in range(5):
                response = session.post(bridge.url + "/run-circuit", json={"qasm": ghz(2 + (i + j) % 6), "shots": 100 + i})
                assert response.status_code == 200, response.text
                totals.append(sum(response.json()["counts"].values()))
            return totals

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(client, range(12)))
    assert results == [[100 + i] * 5 for i in range(12)]


def test_timeout_is_504_and_frees_the_worker(bridge):
    before = bridge.health()["restarts"]
    started = time.monotonic()
    response = post(bridge, "/run-circuit", {"qasm": slow_qasm(), "shots": 100})
    elapsed = time.monotonic() - started
    assert response.status_code == 504, response.text
    assert "timeout" in response.json()["detail"]
    assert elapsed >= TIMEOUT_S
    # Both workers serve again: run two requests at once, each must finish fast.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: post(bridge, "/run-circuit", {"qasm": GHZ3, "shots": 10}), range(2)))
    assert [r.status_code for r in results] == [200, 200]
    wait_for(lambda: bridge.health()["restarts"] > before, 120, "the timed-out worker to be restarted")
    health = bridge.health()
    assert health["restarts"] == before + 1 and health["workers_available"] == 2


def test_a_killed_worker_is_replaced(bridge):
    pid = bridge.health()["worker_pids"][0]
    os.kill(pid, signal.SIGKILL)
    for _ in range(6):  # every request succeeds: the dead worker is restarted before use
        response = post(bridge, "/run-circuit", {"qasm": GHZ3, "shots": 10})
        assert response.status_code == 200, response.text
    assert pid not in bridge.health()["worker_pids"]


def test_logs_never_contain_the_key(bridge):
    post(bridge, "/run-circuit", {"qasm": GHZ3, "shots": 10})
    post(bridge, "/run-circuit", {"qasm": GHZ3, "shots": 10}, headers={"Authorization": "Bearer not-the-key-123"},
         auth=False)
    log = bridge.log()
    assert "POST /run-circuit" in log  # the access log is on
    assert bridge.api_key not in log and "not-the-key-123" not in log


def test_queued_request_of_a_departed_client_is_dropped(bridge):
    """Both workers busy; a client that gives up while queued does not cost a simulation later."""
    before = bridge.health()
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = [pool.submit(post, bridge, "/run-circuit", {"qasm": slow_qasm(), "shots": 10}) for _ in range(2)]
        wait_for(lambda: bridge.health()["busy"] == 2, 120, "both workers to be busy")
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(bridge.url + "/run-circuit", json={"qasm": GHZ3, "shots": 10}, headers=bridge.headers(),
                       timeout=httpx.Timeout(10, read=0.5))
        assert [f.result().status_code for f in slow] == [504, 504]
    wait_for(lambda: bridge.health()["workers_available"] == 2, 120, "both workers to be available again")
    after = bridge.health()
    assert after["jobs_dropped"] == before["jobs_dropped"] + 1
    assert after["jobs_completed"] == before["jobs_completed"] + 2  # the two slow ones only
    assert post(bridge, "/run-circuit", {"qasm": GHZ3, "shots": 10}).status_code == 200
