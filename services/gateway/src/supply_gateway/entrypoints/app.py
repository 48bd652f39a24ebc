"""The gateway's app factory: the pages, health and metrics on FastAPI, the API on its own stack."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from supply_common.revocations import following, readiness_checks
from supply_common.web import ReadinessCheck
from supply_common.web import create_app as create_service_app
from supply_gateway.bootstrap import Container, bootstrap
from supply_gateway.domain.policy import PROJECTOR, WRITER
from supply_gateway.entrypoints.proxy import ApiDispatch, api_app
from supply_gateway.entrypoints.routes import reference
from supply_gateway.entrypoints.security import HeaderLimitsMiddleware, SecurityHeadersMiddleware
from supply_gateway.entrypoints.web import account, dashboard, journey, ops, sale, sales, staff
from supply_gateway.entrypoints.web.errors import install_error_pages

STATIC = Path(__file__).parent / "static"
log = logging.getLogger(__name__)


def _checks(container: Container) -> list[ReadinessCheck]:
    gateway = container.gateway

    async def signing_keys() -> str:
        if not gateway.verifier.keys.has_keys:
            await gateway.verifier.keys.refresh()
        return "ok"

    def upstream_alive(name: str) -> ReadinessCheck:
        async def probe() -> str:
            response = await gateway.upstreams[name].send("GET", "/livez", stream=False)
            return "ok" if response.status_code == 200 else "degraded"

        return ReadinessCheck(name, probe, critical=False)

    return [
        ReadinessCheck("signing-keys", signing_keys),
        upstream_alive(WRITER),
        upstream_alive(PROJECTOR),
        *readiness_checks(container.account_events),
    ]


def create_app(container: Container | None = None) -> FastAPI:
    container = container or bootstrap()
    settings = container.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await container.gateway.start()
        try:
            async with following(container.account_events, settings):
                yield
        finally:
            await container.gateway.aclose()

    body_limits = {"/api/sales/import": settings.import_max_body_bytes, "/sales/import": settings.import_max_body_bytes}
    app = create_service_app(
        service="gateway",
        title="Supply Store gateway",
        max_body_bytes=settings.max_body_bytes,
        body_limit_overrides=body_limits,
        checks=_checks(container),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        trust_incoming_traces=False,
    )
    app.state.container = container
    for area in (account, sales, sale, journey, dashboard, ops, staff, reference):
        app.include_router(area.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_error_pages(app)
    cors: dict[str, Any] | None = None
    if settings.cors_origin_list:
        cors = {
            "allow_origins": settings.cors_origin_list,
            "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
            "allow_headers": ["authorization", "content-type", "if-match", "idempotency-key", "x-request-id"],
            "expose_headers": ["etag", "location", "retry-after", "x-request-id"],
        }
        app.add_middleware(CORSMiddleware, **cors)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(ApiDispatch, api=api_app(container, body_limits=body_limits, cors=cors))
    app.add_middleware(HeaderLimitsMiddleware, max_count=settings.max_header_count, max_bytes=settings.max_header_bytes)
    return app
