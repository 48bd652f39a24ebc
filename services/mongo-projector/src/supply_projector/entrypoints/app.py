"""The mongo-projector HTTP app."""

from __future__ import annotations

from fastapi import FastAPI

from supply_common.web import create_app
from supply_projector.config import ProjectorSettings


def build_app(settings: ProjectorSettings | None = None) -> FastAPI:
    settings = settings or ProjectorSettings()
    return create_app(service="mongo-projector", title="Supply Store mongo-projector", max_body_bytes=settings.max_body_bytes)
