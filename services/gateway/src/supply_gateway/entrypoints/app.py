"""The gateway HTTP app: the public API, the web UI and the API reference."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from supply_common.web import BodySizeLimitMiddleware, ReadinessCheck, RequestContextMiddleware, create_app
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


class GatewayApp:
    """The gateway's ASGI entry point: API requests go to `api`, everything else (pages, health,
    metrics, static files, the lifespan) to the FastAPI app `pages`."""

    def __init__(self, pages: FastAPI, api_app: ASGIApp) -> None:
        self.pages = pages
        self.api = api_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and api.serves(scope["path"]):
            await self.api(scope, receive, send)
        else:
            await self.pages(scope, receive, send)


def build_app(settings: GatewaySettings | None = None, gateway: Gateway | None = None) -> GatewayApp:
    settings = settings or GatewaySettings()
    gateway = gateway or bootstrap(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.aclose()

    body_limits = {"/api/sales/import": settings.import_max_body_bytes, "/sales/import": settings.import_max_body_bytes}
    pages = create_app(
        service="gateway",
        title="Supply Store gateway",
        max_body_bytes=settings.max_body_bytes,
        body_limit_overrides=body_limits,
        checks=_checks(gateway),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    pages.state.settings = settings
    pages.state.gateway = gateway
    pages.state.policy = gateway.policy
    pages.include_router(web.router)
    pages.mount("/static", StaticFiles(directory=STATIC), name="static")
    api_app: ASGIApp = BodySizeLimitMiddleware(
        api.ProxyApp(gateway, settings), limit=settings.max_body_bytes, overrides=body_limits
    )
    api_app = api.UnexpectedErrors(RequestContextMiddleware(api_app, service="gateway"))
    if settings.cors_origin_list:
        cors: dict[str, Any] = {
            "allow_origins": settings.cors_origin_list,
            "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
            "allow_headers": ["authorization", "content-type", "if-match", "idempotency-key", "x-request-id"],
            "expose_headers": ["etag", "location", "retry-after", "x-request-id"],
        }
        pages.add_middleware(CORSMiddleware, **cors)
        api_app = CORSMiddleware(api_app, **cors)
    pages.add_middleware(SecurityHeadersMiddleware)
    return GatewayApp(pages, SecurityHeadersMiddleware(api_app))


def policy_markdown() -> str:
    return Policy().markdown()
