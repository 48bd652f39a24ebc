"""The app every HTTP service starts from: `create_app` puts together the shared middleware
(`http_middleware`), problem handlers (`problem_handlers`) and health and metrics routes (`health`).
The names the services take from here are re-exported."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from starlette.middleware import Middleware

from supply_common.health import ReadinessCheck, install_health
from supply_common.http_middleware import HTTP_REQUESTS, BodySizeLimitMiddleware, RequestContextMiddleware
from supply_common.problem_handlers import error_response, install_problem_handlers, problem_response
from supply_common.serve import follow_supervisor, freeze_heap
from supply_common.tracing import TracingMiddleware
from supply_common.tracing import start as start_tracing

__all__ = [
    "HTTP_REQUESTS",
    "BodySizeLimitMiddleware",
    "Lifespan",
    "ReadinessCheck",
    "RequestContextMiddleware",
    "create_app",
    "error_response",
    "in_background",
    "problem_response",
]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def in_background(work: Coroutine[Any, Any, None] | None, name: str) -> AsyncIterator[None]:
    """`work` runs as a task (named `name`) while the block runs, then is cancelled and awaited; None
    runs nothing. For a lifespan's background loop, such as an outbox relay."""
    task = None if work is None else asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


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
    # The services export Prometheus metrics and JSON logs, and traces through supply_common.tracing.
    # FastAPI's built-in OpenTelemetry hooks look up the global providers on every request even when
    # none is configured.
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
