"""HTTP plumbing every service shares: request ids, body limits, problem details, health and metrics."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supply_common.logs import request_id_var
from supply_common.problems import PROBLEM_JSON, FieldError, ProblemError
from supply_common.serve import METRICS_DIR_ENV, follow_supervisor, freeze_heap
from supply_common.tracing import TracingMiddleware
from supply_common.tracing import start as start_tracing

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests answered.", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def sane_request_id(value: str | None) -> str:
    """Keep a client's request id if it is short and plain, else make one: 128 random bits in hex
    (a uuid4's text without its version bits, at a fifth of the cost)."""
    return value if value and _SANE_REQUEST_ID.match(value) else os.urandom(16).hex()


class RequestContextMiddleware:
    """Sets the request id for logs, echoes it, and records request metrics under the route template.

    The metric series of each method, route and status are looked up once and kept (the registry's
    own lookup takes a lock and rebuilds the label tuple on every call)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def _metrics(self, method: str, template: str, status: int) -> tuple[Counter, Histogram]:
        key = (method, template, status)
        series = self._series.get(key)
        if series is None:
            series = (
                HTTP_REQUESTS.labels(self.service, method, template, str(status)),
                HTTP_LATENCY.labels(self.service, method, template),
            )
            self._series[key] = series
        return series

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope.get("headers") or () if name == b"x-request-id"), b"")
        request_id = sane_request_id(given.decode("latin-1") or None)
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *[(k, v) for k, v in message["headers"] if k.lower() != b"x-request-id"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            requests, latency = self._metrics(scope["method"], getattr(route, "path", None) or "unmatched", status)
            requests.inc()
            latency.observe(time.perf_counter() - started)
            request_id_var.reset(token)


class _BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """Refuses bodies over the limit with 413, by Content-Length up front or while streaming.

    `overrides` maps a path prefix to its own limit (an import endpoint takes large files).
    """

    def __init__(self, app: ASGIApp, limit: int, overrides: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.overrides = dict(overrides or {})

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.overrides.items():
            if path.startswith(prefix):
                return limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        for key, value in scope.get("headers") or []:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > limit:
                    await _send_problem(send, _too_large(limit))
                    return
        received = 0
        started = False
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                # The app caught the overflow itself (FastAPI answers 400 "error parsing the body").
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _send_problem(send, _too_large(limit))
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_problem(send, _too_large(limit))


def _too_large(limit: int) -> ProblemError:
    return ProblemError(413, "Request body too large", f"The body must be at most {limit} bytes.")


async def _send_problem(send: Send, error: ProblemError) -> None:
    response = problem_response(error)
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def problem_response(error: ProblemError, instance: str | None = None) -> JSONResponse:
    return JSONResponse(
        error.body(instance),
        status_code=error.problem.status,
        headers=error.headers,
        media_type=PROBLEM_JSON,
    )


def _location(loc: Sequence[int | str]) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        kind, rest = parts[0], parts[1:]
        if kind != "body" and rest:
            return f"{kind}.{'.'.join(rest)}"
        parts = rest
    return ".".join(parts) or "body"


def validation_problem(errors: Sequence[Mapping[str, Any]]) -> ProblemError:
    field_errors = [FieldError(field=_location(error.get("loc", ())), reason=str(error.get("msg"))) for error in errors]
    detail = "; ".join(f"{e.field}: {e.reason}" for e in field_errors[:5])
    return ProblemError(422, "Invalid request", detail, errors=field_errors)


def _is_unavailable(exc: Exception) -> str | None:
    """Name the dependency when an exception means a store cannot be reached right now."""
    if isinstance(exc, _database_errors()) and _is_database_connection_error(exc):
        return "database"
    if isinstance(exc, _document_store_errors()):
        return "document store"
    return None


def _database_errors() -> tuple[type[Exception], ...]:
    """SQLAlchemy's pool timeout and driver errors, once a service has loaded SQLAlchemy (those with a
    MySQL database do): an exception of a module never imported cannot occur, and a service without a
    database needs neither SQLAlchemy nor PyMySQL installed."""
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is None:
        return ()
    return (errors.DBAPIError, errors.TimeoutError)


def _document_store_errors() -> tuple[type[Exception], ...]:
    """pymongo's connection errors, once a service has loaded pymongo (only the projector does), for
    the same reason as the database's."""
    errors = sys.modules.get("pymongo.errors")
    if errors is None:
        return ()
    return (errors.ConnectionFailure, errors.AutoReconnect, errors.NetworkTimeout)


def _is_database_connection_error(exc: Exception) -> bool:
    """A pool timeout, an invalidated connection, or a MySQL error that says the server is gone."""
    errors = sys.modules["sqlalchemy.exc"]
    if isinstance(exc, errors.TimeoutError):
        return True
    if not isinstance(exc, errors.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    driver = sys.modules.get("pymysql.err")
    orig = exc.orig
    if driver is None or orig is None:
        return False
    if isinstance(orig, driver.InterfaceError):
        return True
    if isinstance(orig, driver.OperationalError) and orig.args:
        return orig.args[0] in (2003, 2006, 2013, 2055, 1927, 1053)
    return False


def error_response(exc: Exception, instance: str) -> Response:
    """The problem document an exception is answered with, wherever it is caught: the app's
    exception handlers and an ASGI lane in front of the router (see the sales-writer's create)."""
    if isinstance(exc, ProblemError):
        return problem_response(exc, instance)
    if isinstance(exc, RequestValidationError):
        return problem_response(validation_problem(exc.errors()), instance)
    if isinstance(exc, StarletteHTTPException):
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Request refused")
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(ProblemError(exc.status_code, title, detail, headers=dict(exc.headers or {})), instance)
    dependency = _is_unavailable(exc)
    if dependency is not None:
        log.warning("dependency unavailable", extra={"dependency": dependency, "error": repr(exc)[:300]})
        error = ProblemError(
            503,
            "Service unavailable",
            f"The {dependency} cannot be reached; try again shortly.",
            headers={"Retry-After": "2"},
        )
        return problem_response(error, instance)
    log.error("unhandled error", extra={"path": instance}, exc_info=exc)
    return problem_response(ProblemError(500, "Internal error", "Something went wrong on our side."), instance)


def install_problem_handlers(app: FastAPI) -> None:
    """Every error as a problem document. Store errors are answered inside the app by their own
    handlers: a handler for `Exception` runs in Starlette's outermost middleware, which re-raises after
    answering, and the server then drops the keep-alive connection under the caller's feet. The
    database's and the document store's errors are among them when SQLAlchemy or pymongo is loaded
    by then (a service's adapters import them before its app is built)."""

    async def on_error(request: Request, exc: Exception) -> Response:
        return error_response(exc, request.url.path)

    handled = (
        ProblemError,
        StarletteHTTPException,
        RequestValidationError,
        *_database_errors(),
        *_document_store_errors(),
    )
    for kind in (*handled, Exception):
        app.add_exception_handler(kind, on_error)


@dataclass(frozen=True)
class ReadinessCheck:
    """A named probe of a real dependency. `critical` failures make /readyz answer 503; others report
    `degraded` and keep the service in rotation (a relay behind a down broker, say)."""

    name: str
    probe: Callable[[], Awaitable[object]]
    critical: bool = True
    timeout_s: float = 2.0


async def _run_check(check: ReadinessCheck) -> tuple[str, str, bool]:
    try:
        result = await asyncio.wait_for(check.probe(), check.timeout_s)
    except Exception as exc:  # noqa: BLE001 - any failure of a probe is a "not ready"
        return check.name, f"error: {type(exc).__name__}: {str(exc)[:200]}", check.critical
    if result == "degraded":
        return check.name, "degraded", False
    return check.name, "ok", False


def install_health(app: FastAPI, checks: Sequence[ReadinessCheck] | Callable[[], Sequence[ReadinessCheck]]) -> None:
    @app.get("/livez", include_in_schema=False)
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        current = checks() if callable(checks) else checks
        results = await asyncio.gather(*(_run_check(check) for check in current))
        failed = any(critical for _, _, critical in results)
        status = "unready" if failed else ("degraded" if any(r != "ok" for _, r, _ in results) else "ready")
        return JSONResponse(
            {"status": status, "checks": {name: result for name, result, _ in results}},
            status_code=503 if failed else 200,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(_metrics_registry()), media_type=CONTENT_TYPE_LATEST)


def _metrics_registry() -> CollectorRegistry:
    """This process's metrics, or with several workers those of all of them, added up."""
    if not os.environ.get(METRICS_DIR_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def _no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def _frozen_at_start(lifespan: Lifespan) -> Lifespan:
    @asynccontextmanager
    async def frozen(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            freeze_heap()
            yield

    return frozen


def _with_request_threads(lifespan: Lifespan, threads: int) -> Lifespan:
    @asynccontextmanager
    async def limited(app: FastAPI) -> AsyncIterator[None]:
        # anyio keeps one default limiter per event loop: set it from inside the serving loop
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        async with lifespan(app):
            yield

    return limited


def create_app(
    *,
    service: str,
    title: str,
    description: str = "",
    version: str = "0.1.0",
    max_body_bytes: int = 1_048_576,
    body_limit_overrides: Mapping[str, int] | None = None,
    checks: Sequence[ReadinessCheck] | Callable[[], Sequence[ReadinessCheck]] = (),
    lifespan: Lifespan | None = None,
    request_threads: int | None = None,
    inner_middleware: Sequence[Middleware] = (),
    trust_incoming_traces: bool = True,
    **fastapi_kwargs: Any,
) -> FastAPI:
    """A FastAPI app with the shared middleware, problem handlers, /livez, /readyz and /metrics.

    `request_threads` caps the threads that run plain-function endpoints and dependencies (anyio's
    default is 40); further requests wait on the event loop for one. `inner_middleware` runs inside
    the shared middleware (request ids, metrics, body limits), closest to the router, first one
    outermost. With an OTLP endpoint set (`supply_common.tracing`) each request gets a server span,
    continuing the caller's `traceparent` unless `trust_incoming_traces` is False (the public door)."""
    follow_supervisor()
    lifespan = _frozen_at_start(lifespan or _no_lifespan)
    if request_threads is not None:
        lifespan = _with_request_threads(lifespan, request_threads)
    # The services export Prometheus metrics and JSON logs. FastAPI's built-in OpenTelemetry hooks
    # look up the global providers on every request even when none is configured.
    fastapi_kwargs.setdefault("telemetry", {"tracing": False, "metrics": False, "logs": False})
    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        **fastapi_kwargs,
    )
    install_problem_handlers(app)
    install_health(app, checks)
    for middleware in reversed(inner_middleware):
        app.add_middleware(middleware.cls, *middleware.args, **middleware.kwargs)
    app.add_middleware(BodySizeLimitMiddleware, limit=max_body_bytes, overrides=body_limit_overrides)
    if start_tracing(service):
        app.add_middleware(TracingMiddleware, trust_incoming=trust_incoming_traces)
    app.add_middleware(RequestContextMiddleware, service=service)
    return app
