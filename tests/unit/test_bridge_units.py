"""Bridge pieces in-process: settings, API key loading, auth, QASM pre-checks, the worker runner, the app."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import warnings
from pathlib import Path

import pytest

from qcos.bridge.auth import BearerAuth
from qcos.bridge.cli import add_bridge_commands, settings_from_args
from qcos.bridge.server import bind_socket, make_pool
from qcos.bridge.settings import BridgeSettings, load_api_key
from qcos.exceptions import BridgeError, ConfigError
from qcos.workers import CIRCUIT, MEMORY, OK, QASM
from qcos.workers.aer import Runner
from qcos.workers.guard import Limits, check_includes, check_sizes

GHZ3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nbit[3] c;\nh q[0];\ncx q[0], q[1];\ncx q[1], q[2];\nc = measure q;\n'


# -- settings and keys ------------------------------------------------------------------
def test_settings_defaults_and_validation():
    settings = BridgeSettings(api_key="zz-secret")
    assert settings.workers >= 1 and settings.device == "CPU" and "zz-secret" not in repr(settings)
    assert BridgeSettings(device="gpu").workers == 1
    for blank in ("", "   ", "\t\n"):
        with pytest.raises(ConfigError, match="empty or only whitespace"):
            BridgeSettings(api_key=blank)
    for bad in ({"device": "TPU"}, {"method": "magic"}, {"max_shots": 0}, {"timeout_s": 0}, {"port": 70000},
                {"workers": -1}):
        with pytest.raises(ConfigError):
            BridgeSettings(**bad)


def test_api_key_from_file_env_and_errors(tmp_path, caplog):
    assert load_api_key(environ={}) is None
    assert load_api_key(environ={"BRIDGE_API_KEY": " env-key \n"}) == "env-key"
    key_file = tmp_path / "key"
    key_file.write_text("file-key\nignored\n")
    key_file.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        assert load_api_key(key_file, environ={"BRIDGE_API_KEY": "env-key"}) == "file-key"
    assert not caplog.records
    key_file.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        load_api_key(key_file, environ={})
    assert "chmod 600" in caplog.text and "file-key" not in caplog.text
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        load_api_key(tmp_path / "empty")
    with pytest.raises(ConfigError, match="cannot read"):
        load_api_key(tmp_path / "missing")


def test_bearer_auth():
    auth = BearerAuth("abc")
    assert auth.allows("Bearer abc") and auth.allows("bearer abc") and auth.allows("Bearer  abc ")
    for header in (None, "", "Bearer", "Bearer abcd", "Bearer ab", "Basic abc", "abc", "Bearer ABC"):
        assert not auth.allows(header)
    assert BearerAuth(None).allows(None) and "abc" not in repr(auth)


def test_cli_arguments_become_settings(monkeypatch):
    parser = argparse.ArgumentParser()
    add_bridge_commands(parser.add_subparsers(dest="cmd"))
    monkeypatch.setenv("BRIDGE_API_KEY", "from-env")
    args = parser.parse_args(["serve", "--port", "9999", "--device", "cpu", "--workers", "3", "--max-body-mb", "0.5",
                              "--timeout-s", "12"])
    settings = settings_from_args(args)
    assert (settings.port, settings.device, settings.workers, settings.timeout_s) == (9999, "CPU", 3, 12.0)
    assert settings.max_body_bytes == 2**19 and settings.api_key == "from-env"


def test_blank_key_in_the_environment_is_refused_not_ignored():
    for blank in ("", "   ", " \t "):
        with pytest.raises(ConfigError, match="BRIDGE_API_KEY is empty or only whitespace"):
            load_api_key(environ={"BRIDGE_API_KEY": blank})
    with pytest.raises(ConfigError, match="contains whitespace"):
        load_api_key(environ={"BRIDGE_API_KEY": "two words"})


def test_non_loopback_host_needs_a_key_or_an_explicit_insecure_flag():
    for host in ("0.0.0.0", "::", "192.0.2.10"):
        with pytest.raises(ConfigError, match="--insecure-no-auth"):
            BridgeSettings(host=host)
        assert BridgeSettings(host=host, api_key="k").host == host
        assert BridgeSettings(host=host, insecure_no_auth=True).api_key is None
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert BridgeSettings(host=host).api_key is None


def test_cli_refuses_an_open_bridge(monkeypatch, capsys):
    from qcos.cli import main

    monkeypatch.delenv("BRIDGE_API_KEY", raising=False)
    assert main(["bridge", "serve", "--host", "0.0.0.0", "--port", "0"]) != 0
    assert "--insecure-no-auth" in capsys.readouterr().err
    monkeypatch.setenv("BRIDGE_API_KEY", "   ")
    assert main(["bridge", "serve", "--port", "0"]) != 0
    assert "empty or only whitespace" in capsys.readouterr().err


def test_taken_port_fails_fast():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(BridgeError, match="choose another --port"):
            bind_socket("127.0.0.1", taken.getsockname()[1])


# -- OpenQASM pre-checks and the worker runner ------------------------------------------------
def test_only_standard_includes_are_allowed():
    assert check_includes(GHZ3) is None
    assert check_includes('OPENQASM 2.0;\ninclude "qelib1.inc";') is None
    assert "not allowed" in check_includes('include "/etc/passwd";')
    assert "not allowed" in check_includes("include 'x.inc';")


def test_size_checks_happen_before_parsing():
    assert check_sizes(GHZ3, Limits(max_qubits=3)) is None
    assert "declares 4 qubits" in check_sizes("qreg a[2];\nqreg b[2];", Limits(max_qubits=3))
    assert check_sizes("\nqubit[2] q;", Limits(max_qubits=3)) is None
    assert "declares 11 qubits" in check_sizes("qubit[1] q; x $10;", Limits(max_qubits=5))
    assert "classical bits" in check_sizes("bit[1000001] c;", Limits(max_qubits=5))


@pytest.fixture(scope="module")
def runner():
    return Runner({"max_qubits": 4, "base_options": {"device": "CPU", "max_parallel_threads": 1}})


def test_runner_codes(runner):
    code, counts = runner.run_one(GHZ3, 100, 7, {})
    assert code == OK and sum(counts.values()) == 100 and set(counts) <= {"000", "111"}
    assert runner.run_one(GHZ3, 100, 7, {"method": "stabilizer"})[0] == OK
    assert runner.run_one("garbage", 10, None, {})[0] == QASM
    code, message = runner.run_one(GHZ3.replace("[3]", "[5]"), 10, None, {})
    assert code == CIRCUIT and "at most 4" in message
    assert runner.run_one('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nh q[0];\n', 10, None, {})[0] == CIRCUIT


def test_runner_is_reproducible_with_a_seed(runner):
    assert runner.run_one(GHZ3, 500, 3, {}) == runner.run_one(GHZ3, 500, 3, {})


# -- the app in-process with one real worker -------------------------------------------------
@pytest.fixture(scope="module")
def client():
    settings = BridgeSettings(workers=1, api_key="unit-key", max_qubits=5, max_shots=1000, max_body_bytes=4096)
    pool = make_pool(settings)
    saved = os.environ.get("BRIDGE_API_KEY")
    os.environ["BRIDGE_API_KEY"] = "unit-key"  # the workers must not inherit it
    try:
        pool.start()
    finally:
        if saved is None:
            os.environ.pop("BRIDGE_API_KEY")
        else:
            os.environ["BRIDGE_API_KEY"] = saved
    from qcos.bridge.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's note about httpx in its TestClient
        from fastapi.testclient import TestClient
    with TestClient(create_app(settings, pool)) as test_client:
        yield test_client


def test_app_contract(client):
    assert client.get("/health").json()["status"] == "ok"
    response = client.post("/run-circuit", json={"qasm": GHZ3, "shots": 64}, headers={"Authorization": "Bearer unit-key"})
    assert response.status_code == 200 and sum(response.json()["counts"].values()) == 64
    assert client.post("/run-circuit", json={"qasm": GHZ3}).status_code == 401
    headers = {"Authorization": "Bearer unit-key"}
    assert client.post("/run-circuit", json={"qasm": GHZ3, "shots": 1001}, headers=headers).status_code == 422
    assert client.post("/run-circuit", json={"qasm": GHZ3 + " " * 5000}, headers=headers).status_code == 413
    batch = client.post("/run-batch", json={"circuits": [{"qasm": GHZ3, "shots": 5}, {"qasm": "x", "shots": 5}]}, headers=headers)
    assert batch.status_code == 200 and batch.json()["results"][1]["status"] == 400
    assert client.get("/health", headers=headers).json()["jobs_completed"] >= 3


def test_workers_run_under_the_memory_cap(client):
    from qcos.workers.jobs import default_memory_mb, host_memory_mb

    health = client.get("/health", headers={"Authorization": "Bearer unit-key"}).json()
    assert health["worker_memory_mb"] == default_memory_mb(1) == max(2048, host_memory_mb())  # auto: RAM / workers
    for pid in health["worker_pids"]:
        try:
            limits = Path(f"/proc/{pid}/limits").read_text()
        except OSError:
            pytest.skip("/proc is not readable here")
        line = next(line for line in limits.splitlines() if line.startswith("Max address space"))
        assert str(health["worker_memory_mb"] * 2**20) in line


def test_out_of_memory_is_reported_as_the_circuit_s_problem(runner, monkeypatch):
    def exhausted(*args, **kwargs):
        raise RuntimeError("Aer failed") from MemoryError()

    monkeypatch.setattr(runner._aer, "simulate", exhausted)
    code, message = runner.run_one(GHZ3.replace("c = measure", "c = measure "), 10, None, {})
    assert code == MEMORY and "out of memory" in message
    assert BridgeSettings(device="GPU").memory_limit_mb == 0 and BridgeSettings(worker_memory_mb=0).memory_limit_mb == 0


def test_worker_processes_do_not_get_the_key(client):
    pids = client.get("/health", headers={"Authorization": "Bearer unit-key"}).json()["worker_pids"]
    for pid in pids:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            pytest.skip("/proc is not readable here")
        assert b"BRIDGE_API_KEY" not in environ


def test_pool_queue_limit_and_timeout():
    """One worker, one queue place: a third request is refused at once; the slow one times out."""
    import asyncio

    from qcos.bridge.workers import BridgePool, Job
    from qcos.exceptions import PoolUnavailable
    from qcos.workers import TIMEOUT, WorkerConfig

    slow = Job('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\n'
               "for int i in [0:50000000] { h q[0]; }\nc = measure q;\n", 10)
    pool = BridgePool(WorkerConfig(base_options={"max_parallel_threads": 1}), 1, timeout_s=1.0, max_queue=1)
    pool.start()

    async def scenario():
        pool.attach()
        first = asyncio.ensure_future(pool.run([slow]))
        await asyncio.sleep(0.1)
        second = asyncio.ensure_future(pool.run([Job(GHZ3, 10)]))
        await asyncio.sleep(0.1)
        assert pool.stats()["queue_depth"] == 1
        with pytest.raises(PoolUnavailable, match="queue is full"):
            await pool.run([Job(GHZ3, 10)])
        with pytest.raises(PoolUnavailable):
            await pool.run_many([Job(GHZ3, 10)] * 3)
        return await first, await second

    try:
        (timed_out,), (done,) = asyncio.run(scenario())
    finally:
        pool.close()
    assert timed_out.code == TIMEOUT and "1s" in timed_out.message
    assert done.ok and sum(done.counts.values()) == 10


def test_a_worker_that_exits_by_itself_is_reported_with_its_own_exit_code():
    """Exit code 1 (e.g. a crash the interpreter turned into sys.exit(1)) must not read as -9 (our kill)."""
    import subprocess
    import sys
    from multiprocessing.connection import Connection

    from qcos.workers import CRASHED, Chunk, WorkerConfig
    from qcos.workers.process import WorkerProcess

    parent, child = socket.socketpair()
    worker = WorkerProcess(WorkerConfig(), 0)
    # a stand-in child: reads one message, closes its end (as a dying worker's cleanup does), then
    # takes a moment to exit with code 1 while the parent already sees the closed channel
    worker.process = subprocess.Popen(
        [sys.executable, "-c", "import os, sys, time; fd = int(sys.argv[1]); os.read(fd, 1); os.close(fd); "
         "time.sleep(0.5); sys.exit(1)",
         str(child.fileno())], pass_fds=(child.fileno(),))
    child.close()
    worker.conn = Connection(parent.detach())
    results, replace = worker.exchange([Chunk(GHZ3, 10)], timeout_s=60)
    assert replace and results[0].code == CRASHED
    assert "exit code 1)" in results[0].message
