"""``qcos bridge serve`` vs the spec's process-per-request bridge: same circuits, same run.

The reference bridge is the spec's ``qcos_lumi_bridge.py`` verbatim except for two lines:
its ``VENV`` is this interpreter and Aer runs on ``device='CPU'`` (no GPU here). Both run
under uvicorn on 127.0.0.1 and get the same 5-qubit circuits over HTTP. Prints sequential
and concurrent throughput ratios, the batch endpoint's circuits/s (target >= 300), the
same through the custom_rest provider, and, on the LAST line, the sequential speedup
(target >= 50x). Usage: python bench/bench_bridge.py [--baseline 10] [--requests 200]
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from qiskit import QuantumCircuit

from qcos.circuits.qasm import dumps
from qcos.providers.base import ShotTask
from qcos.providers.rest import CustomRESTProvider

REFERENCE_BRIDGE = '''
"""
Minimal QCOS circuit bridge for LUMI.
Deploy on LUMI login node, then SSH-tunnel to localhost.
"""
from fastapi import FastAPI, HTTPException, Header
from pydantic import BaseModel
from typing import Optional, Dict
import asyncio, subprocess, json, os, tempfile

app = FastAPI(title="QCOS LUMI Bridge")
API_KEY = os.environ.get("BRIDGE_API_KEY", "")
VENV = __VENV__

class CircuitRequest(BaseModel):
    qasm: str
    shots: int = 1024

@app.post("/run-circuit")
async def run_circuit(
    req: CircuitRequest,
    authorization: Optional[str] = Header(None),
) -> Dict[str, dict]:
    if API_KEY and authorization != f"Bearer {API_KEY}":
        raise HTTPException(status_code=401, detail="Unauthorized")
    # Write circuit to temp file
    with tempfile.NamedTemporaryFile(suffix=".qasm", delete=False, mode="w") as f:
        f.write(req.qasm)
        qasm_path = f.name
    try:
        # Run Aer statevector on GPU via subprocess
        script = f"""
import sys, json
from qiskit import qasm3
from qiskit_aer import AerSimulator
with open('{qasm_path}') as fh:
    qc = qasm3.loads(fh.read())
backend = AerSimulator(method='statevector', device='CPU')
job = backend.run(qc, shots={req.shots})
counts = job.result().get_counts()
print(json.dumps(dict(counts)))
"""
        proc = await asyncio.create_subprocess_exec(
            VENV, "-c", script,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=300)
        if proc.returncode != 0:
            raise HTTPException(status_code=500, detail=stderr.decode())
        counts = json.loads(stdout.decode().strip())
        return {"counts": counts}
    finally:
        os.unlink(qasm_path)

@app.get("/health")
async def health():
    return {"status": "ok"}
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server for {url} exited with {process.returncode}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up within {timeout_s}s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def circuits(n: int, width: int = 5, depth: int = 5) -> list[QuantumCircuit]:
    """Random layers of standard gates both bridges run as they are (the spec's does not transpile)."""
    result = []
    for i in range(n):
        rng = random.Random(i)
        circuit = QuantumCircuit(width, width, name=f"rand{i}")
        for _ in range(depth):
            for q in range(width):
                gate = rng.choice(["h", "x", "sx", "rz", "ry"])
                if gate in ("rz", "ry"):
                    getattr(circuit, gate)(rng.uniform(0, 6.28), q)
                else:
                    getattr(circuit, gate)(q)
            pairs = list(range(width))
            rng.shuffle(pairs)
            for a, b in zip(pairs[::2], pairs[1::2], strict=False):
                circuit.cx(a, b)
        circuit.measure(range(width), range(width))
        result.append(circuit)
    return result


def sequential(url: str, headers: dict, texts: list[str], shots: int) -> float:
    """Requests per second, one after another on one keep-alive connection."""
    with httpx.Client(headers=headers, timeout=600) as client:
        started = time.perf_counter()
        for text in texts:
            response = client.post(url + "/run-circuit", json={"qasm": text, "shots": shots})
            response.raise_for_status()
            assert sum(response.json()["counts"].values()) == shots
        return len(texts) / (time.perf_counter() - started)


def concurrent(url: str, headers: dict, texts: list[str], shots: int, clients: int) -> float:
    """Requests per second with ``clients`` threads, each with its own connection."""
    parts = [texts[i::clients] for i in range(clients)]

    def run(part: list[str]) -> None:
        with httpx.Client(headers=headers, timeout=600) as client:
            for text in part:
                client.post(url + "/run-circuit", json={"qasm": text, "shots": shots}).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(run, parts))
    return len(texts) / (time.perf_counter() - started)


def batch(url: str, headers: dict, texts: list[str], shots: int, size: int) -> float:
    """Circuits per second through POST /run-batch in requests of ``size`` circuits."""
    with httpx.Client(headers=headers, timeout=600) as client:
        started = time.perf_counter()
        for start in range(0, len(texts), size):
            body = {"circuits": [{"qasm": t, "shots": shots, "seed": i} for i, t in enumerate(texts[start:start + size])]}
            results = client.post(url + "/run-batch", json=body).raise_for_status().json()["results"]
            assert all(sum(r["counts"].values()) == shots for r in results)
        return len(texts) / (time.perf_counter() - started)


def provider_batch(url: str, key: str, circuit_list: list[QuantumCircuit], shots: int, size: int) -> float:
    """Circuits per second through CustomRESTProvider.execute_batch (QASM export included)."""
    provider = CustomRESTProvider()
    node = provider.build_nodes(endpoints=[url], api_key=key, batch=True, batch_size=size)[0]
    tasks = [ShotTask(c, shots, seed=i, circuit_index=i) for i, c in enumerate(circuit_list)]
    started = time.perf_counter()
    outcomes = provider.execute_batch(tasks, node)
    elapsed = time.perf_counter() - started
    provider.close()
    assert all(isinstance(o, dict) and sum(o.values()) == shots for o in outcomes)
    return len(tasks) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=int, default=10, help="requests sent to the process-per-request bridge")
    parser.add_argument("--requests", type=int, default=200, help="requests sent to qcos bridge serve")
    parser.add_argument("--batch-circuits", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--shots", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=0, help="qcos bridge workers (0: its default)")
    args = parser.parse_args()

    key = secrets.token_hex(16)
    headers = {"Authorization": f"Bearer {key}"}
    env = {**os.environ, "BRIDGE_API_KEY": key, "PYTHONUNBUFFERED": "1"}
    circuit_list = circuits(max(args.requests, args.batch_circuits))
    texts = [dumps(c) for c in circuit_list]
    workdir = Path(tempfile.mkdtemp(prefix="qcos-bench-bridge-"))
    (workdir / "qcos_lumi_bridge.py").write_text(REFERENCE_BRIDGE.replace("__VENV__", repr(sys.executable)))

    ref_url, qcos_url = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    log = open(workdir / "servers.log", "wb")  # noqa: SIM115 - closed at the end
    reference = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "qcos_lumi_bridge:app", "--host", "127.0.0.1",
         "--port", ref_url.rsplit(":", 1)[1], "--log-level", "warning"],
        cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    serve = [sys.executable, "-m", "qcos", "bridge", "serve", "--port", qcos_url.rsplit(":", 1)[1], "--no-access-log"]
    if args.workers:
        serve += ["--workers", str(args.workers)]
    bridge = subprocess.Popen(serve, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(ref_url, reference)
        wait_healthy(qcos_url, bridge)
        workers = httpx.get(qcos_url + "/health", headers=headers, timeout=5).json()["workers"]
        print(f"5-qubit random circuits (depth 5), {args.shots} shots; qcos bridge: {workers} warm worker(s); "
              f"reference: the spec's bridge (one python process per request)")
        sequential(qcos_url, headers, texts[:20], args.shots)  # warm-up (connections, caches)

        ref_seq = sequential(ref_url, headers, texts[:args.baseline], args.shots)
        qcos_seq = sequential(qcos_url, headers, texts[:args.requests], args.shots)
        print(f"sequential: reference {ref_seq:8.2f} req/s ({1000 / ref_seq:7.1f} ms each, {args.baseline} requests)")
        print(f"sequential: qcos      {qcos_seq:8.2f} req/s ({1000 / qcos_seq:7.1f} ms each, {args.requests} requests)")

        ref_con = concurrent(ref_url, headers, texts[:args.baseline], args.shots, args.clients)
        qcos_con = concurrent(qcos_url, headers, texts[:args.requests], args.shots, args.clients)
        print(f"concurrent ({args.clients} clients): reference {ref_con:8.2f} req/s, qcos {qcos_con:8.2f} req/s, "
              f"ratio {qcos_con / ref_con:.1f}x")

        batch_rate = batch(qcos_url, headers, texts[:args.batch_circuits], args.shots, args.batch_size)
        print(f"batch endpoint: {batch_rate:.0f} circuits/s ({args.batch_circuits} circuits in requests of "
              f"{args.batch_size}; target >= 300) = {batch_rate / ref_seq:.0f}x the reference's sequential rate")
        provider_rate = provider_batch(qcos_url, key, circuit_list[:args.batch_circuits], args.shots, args.batch_size)
        print(f"custom_rest provider execute_batch (QASM export included): {provider_rate:.0f} circuits/s")
        print(f"sequential speedup (qcos bridge serve vs process-per-request bridge, target >= 50x): "
              f"{qcos_seq / ref_seq:.1f}x")
    finally:
        stop(bridge)
        stop(reference)
        log.close()


if __name__ == "__main__":
    main()
