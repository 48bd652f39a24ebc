"""The gateway HTTP app."""

from __future__ import annotations

from fastapi import FastAPI

from supply_common.web import create_app
from supply_gateway.config import GatewaySettings


def build_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    return create_app(service="gateway", title="Supply Store gateway", max_body_bytes=settings.max_body_bytes)
