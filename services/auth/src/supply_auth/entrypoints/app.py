"""The auth HTTP app."""

from __future__ import annotations

from fastapi import FastAPI

from supply_common.web import create_app
from supply_auth.config import AuthSettings


def build_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()
    return create_app(service="auth", title="Supply Store auth", max_body_bytes=settings.max_body_bytes)
