"""custom_rest's watched requests (liveness) against a real HTTP/1.1 server on 127.0.0.1.

They reuse keep-alive connections (through an SSH tunnel each new connection is a new SSH
channel), and a peer that goes silent still has all its connections cut at once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from qiskit import QuantumCircuit

from qcos.exceptions import EndpointUnreachable
from qcos.providers.rest import CustomRESTProvider


class Peer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.run_ports: list[int] = []  # client port of each /run-circuit request: one per connection used
        self.frozen = threading.Event()  # set: answer nothing (a SIGSTOPped peer)
        self.thawed = threading.Event()  # set at teardown: blocked handlers return
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: Peer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _answer(self, data: object) -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.server.frozen.is_set():
            self.server.thawed.wait(60)
            return
        self._answer({"status": "ok", "batch": True, "max_qubits": 30})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.run_ports.append(self.client_address[1])
        if self.server.frozen.is_set():
            self.server.thawed.wait(60)
            return
        self._answer({"counts": {"0": body["shots"]}})


@pytest.fixture
def peer() -> Iterator[Peer]:
    server = Peer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.thawed.set()
    server.shutdown()
    server.server_close()


def circuit() -> QuantumCircuit:
    qc = QuantumCircuit(1, 1, name="one")
    qc.measure(0, 0)
    return qc


def test_watched_requests_reuse_one_connection(peer: Peer) -> None:
    provider = CustomRESTProvider()
    nodes = provider.build_nodes(endpoints=[peer.url], batch=False, liveness_s=5.0, timeout_s=60)
    try:
        assert provider.health_check()  # learns that the peer is a qcos bridge: requests are watched
        for shots in range(1, 7):
            assert provider.execute(circuit(), shots, nodes[0]) == {"0": shots}
    finally:
        provider.close()
    assert len(peer.run_ports) == 6 and len(set(peer.run_ports)) == 1


def test_a_silent_peer_has_its_pool_cut_and_the_next_request_opens_a_new_one(peer: Peer) -> None:
    provider = CustomRESTProvider()
    nodes = provider.build_nodes(endpoints=[peer.url], batch=False, liveness_s=0.8, timeout_s=60, retries=0)
    try:
        assert provider.health_check()
        assert provider.execute(circuit(), 5, nodes[0]) == {"0": 5}
        peer.frozen.set()
        with pytest.raises(EndpointUnreachable, match="stopped answering"):
            provider.execute(circuit(), 6, nodes[0])
        assert not nodes[0].online and "stopped answering" in (nodes[0].offline_reason or "")
        assert len(set(peer.run_ports)) == 1  # the frozen request went over the kept-alive connection
        peer.frozen.clear()
        assert provider.execute(circuit(), 7, nodes[0]) == {"0": 7}
    finally:
        provider.close()
    assert len(peer.run_ports) == 3 and len(set(peer.run_ports)) == 2  # the cut pool was not reused


def test_requests_sharing_a_silent_peers_pool_all_fail_at_once_without_retries(peer: Peer) -> None:
    provider = CustomRESTProvider()
    nodes = provider.build_nodes(endpoints=[peer.url] * 3, batch=False, liveness_s=0.8, timeout_s=60,
                                 retries=2, backoff_s=0)
    errors: list[BaseException] = []

    def run(node_index: int) -> None:
        try:
            provider.execute(circuit(), 3, nodes[node_index])
        except BaseException as error:
            errors.append(error)

    try:
        assert provider.health_check()
        peer.frozen.set()
        threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads)
    finally:
        provider.close()
    assert len(errors) == 3 and all(isinstance(e, EndpointUnreachable) for e in errors), errors
    assert all("stopped answering" in str(e) for e in errors)
    assert len(peer.run_ports) == 3  # none was sent again to the silent peer
    assert all(not node.online for node in nodes)
