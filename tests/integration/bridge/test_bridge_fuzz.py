"""Property test: whatever JSON (or bytes) a client sends, the bridge answers 2xx or 4xx, never 5xx."""

from __future__ import annotations

import json

import httpx
import pytest
from bridge_helpers import GHZ3, ghz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
PROGRAMS = st.sampled_from([
    GHZ3,
    ghz(2),
    "OPENQASM 3.0;\nqubit[100000] q;\n",
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0];\n',
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\ncreg c[1];\nmeasure q -> c;\n',
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\nU(1e308, nan, -inf) q[0];\nc = measure q;\n',
    "OPENQASM 99;\n",
    'OPENQASM 3.0;\ninclude "stdgates.inc";\ngate g a { g a; }\nqubit[1] q;\nbit[1] c;\ng q[0];\nc = measure q;\n',
])
QASM_FIELD = PROGRAMS | st.text(max_size=200) | (PROGRAMS.flatmap(lambda p: st.text(max_size=20).map(lambda t: p + t)))
SHOTS_FIELD = st.integers(min_value=-5, max_value=200_000) | st.integers() | JSON_VALUES
CIRCUIT_BODIES = st.fixed_dictionaries(
    {"qasm": QASM_FIELD | JSON_VALUES},
    optional={"shots": SHOTS_FIELD, "seed": st.integers() | JSON_VALUES,
              "method": st.sampled_from(["automatic", "stabilizer", "bogus"]) | JSON_VALUES},
)
BATCH_BODIES = st.fixed_dictionaries({"circuits": st.lists(CIRCUIT_BODIES | JSON_VALUES, max_size=4) | JSON_VALUES})


@pytest.fixture(scope="module")
def session(bridge):
    with httpx.Client(base_url=bridge.url, headers=bridge.headers(), timeout=60) as client:
        yield client


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    data = response.json()
    if response.status_code >= 400:
        assert isinstance(data["detail"], str) and data["detail"]


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(body=CIRCUIT_BODIES | JSON_VALUES)
def test_run_circuit_never_5xx(session, body):
    check(session.post("/run-circuit", content=json.dumps(body), headers={"Content-Type": "application/json"}))


@FUZZ
@given(body=BATCH_BODIES | JSON_VALUES)
def test_run_batch_never_5xx(session, body):
    response = session.post("/run-batch", content=json.dumps(body), headers={"Content-Type": "application/json"})
    check(response)
    if response.status_code == 200:
        for item in response.json()["results"]:
            assert "counts" in item or item["status"] < 500


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(max_size=300), path=st.sampled_from(["/run-circuit", "/run-batch"]))
def test_raw_bytes_never_5xx(session, raw, path):
    check(session.post(path, content=raw, headers={"Content-Type": "application/json"}))
