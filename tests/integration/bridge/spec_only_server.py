"""An independent bridge written only from the spec's contract (no qcos code), for interop tests.

``POST /run-circuit`` takes ``{"qasm", "shots"}`` (Bearer key if one is set) and answers
``{"counts"}``; ``GET /health`` answers ``{"status": "ok"}``. Standard library HTTP plus
Qiskit's own importer and AerSimulator, as the spec's sample bridge uses.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from qiskit import qasm3
from qiskit_aer import AerSimulator

_BACKEND = AerSimulator(method="statevector")


class SpecOnlyServer:
    """Serve the contract on 127.0.0.1:<free port> in a thread; ``url``, ``requests`` seen."""

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._answer(200, {"status": "ok"})
                else:
                    self._answer(404, {"detail": "Not Found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                if self.path != "/run-circuit":
                    self._answer(404, {"detail": "Not Found"})
                    return
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    self._answer(401, {"detail": "Unauthorized"})
                    return
                try:
                    request = json.loads(raw)
                    circuit = qasm3.loads(request["qasm"])
                    shots = int(request.get("shots", 1024))
                except Exception as error:  # the spec's bridge does not distinguish errors
                    self._answer(400, {"detail": str(error)})
                    return
                server.requests.append(request)
                counts = _BACKEND.run(circuit, shots=shots).result().get_counts()
                self._answer(200, {"counts": dict(counts)})

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> SpecOnlyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
