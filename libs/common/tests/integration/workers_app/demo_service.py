"""A service with nothing but the shared plumbing, served by the tests with several workers."""

from __future__ import annotations

import os

from fastapi import FastAPI

from supply_common.web import create_app


def build_app() -> FastAPI:
    app = create_app(service="demo", title="demo")

    @app.get("/pid")
    async def pid() -> dict[str, int]:
        return {"pid": os.getpid()}

    return app
