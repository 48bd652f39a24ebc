"""The sales-writer HTTP app."""

from __future__ import annotations

from fastapi import FastAPI

from supply_common.web import create_app
from supply_sales_writer.config import SalesWriterSettings


def build_app(settings: SalesWriterSettings | None = None) -> FastAPI:
    settings = settings or SalesWriterSettings()
    return create_app(service="sales-writer", title="Supply Store sales-writer", max_body_bytes=settings.max_body_bytes)
