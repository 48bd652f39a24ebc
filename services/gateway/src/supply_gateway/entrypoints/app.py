"""The gateway HTTP app: the public API, the web UI and the API reference."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from supply_common.web import ReadinessCheck, create_app
from supply_gateway.bootstrap import bootstrap
from supply_gateway.config import GatewaySettings
from supply_gateway.domain.policy import PROJECTOR, WRITER, Policy
from supply_gateway.entrypoints import api, web
from supply_gateway.entrypoints.security import SecurityHeadersMiddleware
from supply_gateway.service_layer.gateway import Gateway

STATIC = Path(__file__).parent / "static"


def _checks(gateway: Gateway) -> list[ReadinessCheck]:
    async def signing_keys() -> str:
        if not gateway.verifier.keys.has_keys:
            await gateway.verifier.keys.refresh()
        return "ok"

    def upstream_alive(name: str) -> ReadinessCheck:
        async def probe() -> str:
            response = await gateway.upstreams[name].send("GET", "/livez", stream=False)
            return "ok" if response.status_code == 200 else "degraded"

        return ReadinessCheck(name, probe, critical=False)

    return [ReadinessCheck("signing-keys", signing_keys), upstream_alive(WRITER), upstream_alive(PROJECTOR)]


def build_app(settings: GatewaySettings | None = None, gateway: Gateway | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    gateway = gateway or bootstrap(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.aclose()

    app = create_app(
        service="gateway",
        title="Supply Store gateway",
        max_body_bytes=settings.max_body_bytes,
        body_limit_overrides={
            "/api/sales/import": settings.import_max_body_bytes,
            "/sales/import": settings.import_max_body_bytes,
        },
        checks=_checks(gateway),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.gateway = gateway
    app.state.policy = gateway.policy
    app.include_router(api.router)  # first: the proxy's requests need not be tried against every page route
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["authorization", "content-type", "if-match", "idempotency-key", "x-request-id"],
            expose_headers=["etag", "location", "retry-after", "x-request-id"],
        )
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def policy_markdown() -> str:
    return Policy().markdown()
