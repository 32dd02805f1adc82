"""Throughput of DistributedQVM through an ssh_bridge tunnel vs direct custom_rest, same bridge, same run.

Starts a private sshd (tests/services/sshd-up.sh; needs root and openssh-server) and one
`qcos bridge serve` on 127.0.0.1, then runs the same circuits (same seeds) on N REST
nodes pointing straight at the bridge and on N ssh_bridge nodes reaching it through a
paramiko tunnel, alternating, and compares circuits per second (median of --repeat).
Two modes are measured: ``batch`` (the default: chunks go in /run-batch requests) and
``per-request`` (one /run-circuit request per chunk, the tunnel's worst case). The
counts of both paths are checked to be identical. Last line: the ratio
(tunnel throughput / direct throughput) for the default mode; target >= 0.8.
Usage: python bench/bench_tunnel.py [--circuits 120] [--shots 1024] [--workers 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from qiskit.circuit.random import random_circuit

from qcos import ClusterBuilder, DistributedQVM
from qcos.providers.ssh_bridge import SSHBridgeProvider

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sshd() -> dict[str, str]:
    if not os.path.exists("/usr/sbin/sshd") or os.geteuid() != 0:
        print("bench_tunnel skipped: needs root and openssh-server (run `make test` as root once to install it)")
        print("tunnel/direct throughput ratio: skipped")
        raise SystemExit(0)
    proc = subprocess.run(["bash", str(ROOT / "tests/services/sshd-up.sh")], capture_output=True, text=True,
                          timeout=120, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"cannot start sshd (needs root + openssh-server): {proc.stderr.strip()[-400:]}")
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def start_bridge(folder: Path, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    key = folder / "key"
    key.write_text("bench-key\n")
    key.chmod(0o600)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qcos", "bridge", "serve", "--port", str(port), "--workers", str(workers),
         "--api-key-file", str(key), "--no-access-log"],
        stdout=open(folder / "bridge.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True,  # noqa: SIM115
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    raise SystemExit(f"the bridge did not start; see {folder / 'bridge.log'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--circuits", type=int, default=120)
    parser.add_argument("--shots", type=int, default=1024)
    parser.add_argument("--qubits", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4, help="REST nodes on each side")
    parser.add_argument("--bridge-workers", type=int, default=2, help="Aer workers in the bridge")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    circuits = [random_circuit(args.qubits, 6, measure=True, seed=i) for i in range(args.circuits)]
    env = start_sshd()
    folder = Path(tempfile.mkdtemp(prefix="qcos-bench-tunnel-"))
    bridge = None
    try:
        known = folder / "known_hosts"
        known.write_text("".join(
            f"[127.0.0.1]:{env['SSHD_PORT']} {' '.join(Path(p).read_text().split()[:2])}\n"
            for p in env["SSHD_HOST_KEYS"].split(":")
        ))
        ssh = {"port": int(env["SSHD_PORT"]), "user": env["SSHD_USER"], "identity": env["SSHD_CLIENT_KEY"],
               "known_hosts": str(known), "ssh_config": os.devnull}
        bridge, port = start_bridge(folder, args.bridge_workers)
        common = {"api_key": "bench-key", "max_qubits": 20, "timeout_s": 120}
        ratios: dict[str, float] = {}
        for mode, batch in (("per-request", False), ("batch", None)):
            direct = ClusterBuilder().add("custom_rest", endpoints=[f"http://127.0.0.1:{port}"] * args.workers,
                                          batch=batch, **common).build()
            tunneled = ClusterBuilder().add("ssh_bridge", host="127.0.0.1", remote_port=port,
                                            n_workers=args.workers, batch=batch, **common, **ssh).build()
            times: dict[str, list[float]] = {"direct": [], "tunnel": []}
            counts: dict[str, list[dict[str, int]]] = {}
            provider = tunneled.provider_for(tunneled.nodes[0].node_id)
            assert isinstance(provider, SSHBridgeProvider) and provider.tunnel is not None
            tunnel = provider.tunnel
            try:
                for registry in (direct, tunneled):  # warm-up
                    DistributedQVM(registry, shots=args.shots, seed=1, progress=False).run(circuits[:8])
                channels_before = tunnel.status()["forwarded_connections"]
                for _ in range(args.repeat):
                    for name, registry in (("direct", direct), ("tunnel", tunneled)):
                        qvm = DistributedQVM(registry, shots=args.shots, seed=7, progress=False)
                        start = time.perf_counter()
                        results = qvm.run(circuits)
                        times[name].append(time.perf_counter() - start)
                        counts[name] = [r.counts for r in results]
                channels = tunnel.status()["forwarded_connections"] - channels_before
            finally:
                direct.close()
                tunneled.close()
            assert counts["direct"] == counts["tunnel"], "tunnel and direct counts differ"
            rate = {name: args.circuits / statistics.median(values) for name, values in times.items()}
            ratios[mode] = rate["tunnel"] / rate["direct"]
            print(f"{mode:>11}: direct {rate['direct']:7.1f} circuits/s, tunnel {rate['tunnel']:7.1f} circuits/s "
                  f"(median of {args.repeat}, {args.workers} nodes, {args.circuits} x {args.qubits}q x "
                  f"{args.shots} shots), ratio {ratios[mode]:.3f}; {channels} SSH channel(s) opened for "
                  f"{args.repeat} x {args.circuits} circuits")
        print("counts identical through the tunnel and direct: yes")
        print(f"tunnel/direct throughput ratio (batch mode, target >= 0.8): {ratios['batch']:.3f}")
    finally:
        if bridge is not None and bridge.poll() is None:
            os.killpg(bridge.pid, signal.SIGTERM)
            bridge.wait(timeout=30)
        subprocess.run(["bash", str(ROOT / "tests/services/sshd-down.sh"), env["SSHD_DIR"]], check=False)


if __name__ == "__main__":
    main()
