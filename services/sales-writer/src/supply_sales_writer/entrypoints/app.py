"""The sales-writer HTTP app: lifespan (the relay of this process, the account events its token checks
follow), middleware and routers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from starlette.middleware import Middleware

from supply_common.db import ping
from supply_common.revocations import following, readiness_checks
from supply_common.web import ReadinessCheck, in_background
from supply_common.web import create_app as create_service_app
from supply_sales_writer.bootstrap import Container, bootstrap
from supply_sales_writer.entrypoints.create_lane import CreateLane
from supply_sales_writer.entrypoints.deps import writer
from supply_sales_writer.entrypoints.routes import internal, sales


def create_app(container: Container | None = None) -> FastAPI:
    container = container or bootstrap()
    settings = container.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        relay = container.relay.run() if settings.relay_enabled else None
        try:
            async with in_background(relay, "outbox-relay"), following(container.account_events, settings):
                yield
        finally:
            container.close()

    async def database() -> None:
        await asyncio.to_thread(ping, container.engine)

    async def relay() -> str:
        return container.relay.status() if settings.relay_enabled else "ok"

    app = create_service_app(
        service="sales-writer",
        title="Supply Store sales-writer",
        description="Sales in MySQL (the source of truth), changes published to Kafka through an outbox.",
        max_body_bytes=settings.max_body_bytes,
        body_limit_overrides={"/sales/import": settings.import_max_body_bytes},
        checks=[
            ReadinessCheck("database", database),
            ReadinessCheck("relay", relay, critical=False),
            *readiness_checks(container.account_events),
        ],
        lifespan=lifespan,
        request_threads=settings.request_threads,
        inner_middleware=[
            Middleware(
                CreateLane, policy=writer, tokens=container.tokens, create=partial(sales.create_unkeyed, container)
            )
        ],
    )
    app.state.container = container
    app.state.tokens = container.tokens
    app.include_router(sales.router)
    app.include_router(internal.router)
    return app
