"""The bridge's FastAPI app: the spec's ``/run-circuit`` and ``/health`` plus ``/run-batch``.

Every request is checked at the edge, in this order: API key (401), content type (415),
body size (413), JSON (400), fields (422), then, in a worker, OpenQASM (400) and what the
bridge can run (422). Simulations run in warm worker processes (:mod:`qcos.bridge.workers`);
one that runs past ``--timeout-s`` answers 504 and its worker is replaced.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from qcos.bridge.auth import BearerAuth
from qcos.bridge.models import BatchRequest, CircuitRequest, describe_validation_error
from qcos.bridge.settings import BridgeSettings
from qcos.bridge.workers import BridgePool, Job
from qcos.circuits.noise import parse_noise
from qcos.exceptions import CAUSE_HEADER, CIRCUIT_CAUSE, PoolUnavailable, QcosError
from qcos.workers import Outcome, jobs

logger = logging.getLogger(__name__)

#: HTTP status for each job outcome code: what the circuit causes is a 4xx, never a 5xx.
STATUS_OF = {jobs.OK: 200, jobs.QASM: 400, jobs.CIRCUIT: 422, jobs.SIMULATION: 422, jobs.MEMORY: 422,
             jobs.POISON: 422, jobs.TIMEOUT: 504, jobs.CRASHED: 500, jobs.NOT_RUN: 503}
#: Header (and batch item field ``cause``) marking errors any node would give for the circuit:
#: clients such as ``custom_rest`` neither retry them nor send the circuit to another node.


class SafeJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: messages may quote client text with lone surrogates."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class HTTPProblem(Exception):
    """An error answer: status, message and optional extra JSON fields/headers."""

    def __init__(self, status: int, detail: str, *, extra: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers


def create_app(settings: BridgeSettings, pool: BridgePool, *, own_pool: bool = True) -> FastAPI:
    """The app for started ``pool``; with ``own_pool`` the app closes it at shutdown."""
    auth = BearerAuth(settings.api_key)
    app = FastAPI(title="qcos bridge", lifespan=_lifespan(settings, pool, auth, own_pool=own_pool),
                  default_response_class=SafeJSONResponse, docs_url=None, redoc_url=None, openapi_url=None)
    _add_error_handlers(app)
    _add_routes(app, settings, pool, auth)
    return app


def _lifespan(settings: BridgeSettings, pool: BridgePool, auth: BearerAuth, *,
              own_pool: bool) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Attach the pool's event loop at start-up (logging what serves); close an owned pool at shutdown."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.attach()
        logger.info(
            "qcos bridge ready: %d %s worker(s), max %d qubits, max %d shots, timeout %gs, API key %s",
            settings.workers, settings.device, settings.max_qubits, settings.max_shots, settings.timeout_s,
            "required" if auth.enabled else "not set",
        )
        try:
            yield
        finally:
            if own_pool:
                pool.close()

    return lifespan


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPProblem)
    async def _problem(_: Request, error: HTTPProblem) -> SafeJSONResponse:
        return SafeJSONResponse({"detail": error.detail, **error.extra}, status_code=error.status, headers=error.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> SafeJSONResponse:  # pragma: no cover - a bug if reached
        logger.exception("unexpected bridge error")
        return SafeJSONResponse({"detail": f"internal bridge error: {type(error).__name__}"}, status_code=500)


def _add_routes(app: FastAPI, settings: BridgeSettings, pool: BridgePool, auth: BearerAuth) -> None:
    started_at = time.time()

    @app.get("/health")
    async def health(request: Request) -> SafeJSONResponse:
        stats = pool.stats()
        ok = stats["workers_available"] > 0
        if not auth.allows(request.headers.get("authorization")):  # strangers learn only up/ready
            return SafeJSONResponse({"status": "ok" if ok else "unavailable"}, status_code=200 if ok else 503)
        body = _health_details(settings, auth, stats, uptime_s=time.time() - started_at)
        return SafeJSONResponse(body, status_code=200 if ok else 503)

    @app.post("/run-circuit")
    async def run_circuit(request: Request) -> SafeJSONResponse:
        body = await _read_request(request, CircuitRequest, auth, settings)
        _check_shots(body.shots, settings, "shots")
        result = (await _run(request, pool, [_job(body)], batch=False))[0]
        if result.ok:
            return SafeJSONResponse({"counts": result.counts})
        headers = {"Retry-After": "1"} if result.code == jobs.NOT_RUN else None
        if result.circuit_caused:
            headers = {CAUSE_HEADER: CIRCUIT_CAUSE}
        raise HTTPProblem(STATUS_OF.get(result.code, 500), result.message, headers=headers,
                          extra={"cause": CIRCUIT_CAUSE} if result.circuit_caused else None)

    @app.post("/run-batch")
    async def run_batch(request: Request) -> SafeJSONResponse:
        body = await _read_request(request, BatchRequest, auth, settings)
        if len(body.circuits) > settings.max_batch:
            raise HTTPProblem(422, f"circuits: {len(body.circuits)} circuits in one batch; this bridge takes at "
                                   f"most {settings.max_batch} (--max-batch); split the batch")
        for index, item in enumerate(body.circuits):
            _check_shots(item.shots, settings, f"circuits.{index}.shots")
        batch = [_job(item, f"circuits.{index}.noise") for index, item in enumerate(body.circuits)]
        results = await _run(request, pool, batch, batch=True)
        return SafeJSONResponse({"results": [_batch_item(r) for r in results]})


def _health_details(settings: BridgeSettings, auth: BearerAuth, stats: dict[str, Any], *,
                    uptime_s: float) -> dict[str, Any]:
    """What ``/health`` tells a client that sent the API key: limits, version and pool counters."""
    from qcos import __version__

    return {
        "status": "ok" if stats["workers_available"] > 0 else "unavailable",
        "version": __version__,
        "device": settings.device,
        "method": settings.method,
        "max_qubits": settings.max_qubits,
        "max_shots": settings.max_shots,
        "max_batch": settings.max_batch,
        "max_body_bytes": settings.max_body_bytes,
        "timeout_s": settings.timeout_s,
        "worker_memory_mb": settings.memory_limit_mb,
        "auth": auth.enabled,
        "batch": True,
        "noise": True,  # takes the optional `noise` field (qcos.circuits.noise)
        "uptime_s": round(uptime_s, 1),
        **stats,
    }


_Body = TypeVar("_Body", CircuitRequest, BatchRequest)


async def _read_request(request: Request, model: type[_Body], auth: BearerAuth, settings: BridgeSettings) -> _Body:
    """The request's JSON body, authenticated and validated as ``model`` (422 listing what is wrong)."""
    data = await _read_json(request, auth, settings)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise _invalid(error) from None


def _job(body: CircuitRequest, where: str = "noise") -> Job:
    noise = None
    if body.noise is not None:
        try:
            spec = parse_noise(body.noise, where=where)
        except QcosError as error:
            raise HTTPProblem(422, f"invalid request: {error}") from None
        noise = spec.to_dict() if spec is not None else None
    return Job(body.qasm, body.shots, body.seed, body.method, noise)


def _batch_item(result: Outcome) -> dict[str, Any]:
    if result.ok:
        return {"counts": result.counts}
    item: dict[str, Any] = {"error": result.message, "status": STATUS_OF.get(result.code, 500)}
    if result.circuit_caused:
        item["cause"] = CIRCUIT_CAUSE
    return item


async def _run(request: Request, pool: BridgePool, jobs: list[Job], *, batch: bool) -> list[Outcome]:
    """Run on the pool; if the client hangs up first, drop what still waits in the queue."""
    work = asyncio.ensure_future(pool.run_many(jobs) if batch else pool.run(jobs))
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not work.done():
            work.cancel()  # queued jobs leave the queue; running ones finish in their worker
        gone.cancel()
    if not work.done() or work.cancelled():
        logger.info("client of %s went away; its queued job(s) were dropped", request.url.path)
        raise HTTPProblem(499, "client closed the request")
    try:
        return work.result()
    except PoolUnavailable as error:
        raise HTTPProblem(503, str(error), headers={"Retry-After": "2"}) from None


async def _client_gone(request: Request) -> None:
    """Return when the client disconnects (the body has been read, so only that can arrive).

    If the server cannot tell (receive fails), wait forever: the job then simply runs.
    """
    try:
        while True:
            message = await request.receive()
            if message.get("type") == "http.disconnect":
                return
    except Exception:  # pragma: no cover - an ASGI server without disconnect messages
        logger.debug("cannot watch for client disconnects", exc_info=True)
    await asyncio.Event().wait()


async def _read_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise HTTPProblem(413, f"request body is larger than this bridge's limit of {limit} bytes "
                                   "(--max-body-mb); send fewer circuits per request")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_shots(shots: int, settings: BridgeSettings, where: str) -> None:
    if shots > settings.max_shots:
        raise HTTPProblem(422, f"{where}: {shots} shots is more than this bridge's limit of {settings.max_shots} "
                               "(--max-shots); split the shots over several requests")


def _invalid(error: ValidationError) -> HTTPProblem:
    summary, problems = describe_validation_error(error)
    return HTTPProblem(422, f"invalid request: {summary}", extra={"errors": problems})


async def _read_json(request: Request, auth: BearerAuth, settings: BridgeSettings) -> Any:
    """Authenticate, check the content type, read at most max_body_bytes and decode JSON."""
    if not auth.allows(request.headers.get("authorization")):
        raise HTTPProblem(401, "missing or wrong API key: send `Authorization: Bearer <key>`",
                          headers={"WWW-Authenticate": "Bearer"})
    content_type = request.headers.get("content-type")
    if content_type is not None:
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise HTTPProblem(415, f"unsupported content type {media!r}: send `Content-Type: application/json`")
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise HTTPProblem(400, f"invalid Content-Length header {declared[:40]!r}") from None
        if size > limit:
            raise HTTPProblem(413, f"request body of {size} bytes is larger than this bridge's limit of {limit} "
                                   "bytes (--max-body-mb); send fewer circuits per request")
    try:
        raw = await asyncio.wait_for(_read_body(request, limit), timeout=settings.body_timeout_s)
    except ClientDisconnect:  # the client hung up mid-body: nobody to answer, nothing went wrong here
        logger.info("client of %s hung up while sending its request body", request.url.path)
        raise HTTPProblem(499, "client closed the request while sending it") from None
    except TimeoutError:
        raise HTTPProblem(408, f"the request body did not arrive within {settings.body_timeout_s:g}s "
                               "(--body-timeout-s)") from None
    if not raw.strip():
        raise HTTPProblem(400, 'empty request body: send JSON such as {"qasm": "OPENQASM 3.0; ...", "shots": 1024}')
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        where = ""
        if isinstance(error, json.JSONDecodeError):
            where = f" at line {error.lineno}, column {error.colno}"
            error_text = error.msg
        else:
            error_text = str(error)[:200] or type(error).__name__
        raise HTTPProblem(400, f"request body is not valid JSON{where}: {error_text}") from None
