"""The read API's app factory: sales, a customer's own sales, analytics and freshness, from the copy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from supply_common.revocations import account_events_for, following, readiness_checks
from supply_common.tokens import NO_REVOCATION, TokenVerifier, verifier_for
from supply_common.web import ReadinessCheck
from supply_common.web import create_app as service_app
from supply_projector.adapters.kafka import KafkaOffsets
from supply_projector.bootstrap import Container, bootstrap
from supply_projector.config import ProjectorSettings
from supply_projector.entrypoints.routes import analytics, freshness, me, operations, sales


def create_app(container: Container | None = None, *, tokens: TokenVerifier | None = None) -> FastAPI:
    """The app over `container`, or over one wired from the environment at start-up (and closed at
    the end). A given container stays the caller's to close. Callers' tokens are checked by `tokens`,
    else against the key set the settings name, refusing the tokens auth's account events revoke."""
    settings = container.settings if container is not None else ProjectorSettings()
    account_events = account_events_for(settings) if tokens is None else None
    tokens = tokens or verifier_for(settings, revocation=account_events or NO_REVOCATION)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        wired = container or bootstrap(settings)
        app.state.container = wired
        app.state.offsets = KafkaOffsets(settings, settings.consumer_group)
        try:
            async with following(account_events, settings):
                yield
        finally:
            await app.state.offsets.close()
            if container is None:
                wired.close()

    async def mongo_probe() -> None:
        await asyncio.to_thread(app.state.container.reader.ping)

    app = service_app(
        service="mongo-projector",
        title="Supply Store mongo-projector",
        description="Reads and analytics from the MongoDB copy of the sales.",
        max_body_bytes=settings.max_body_bytes,
        checks=[ReadinessCheck("mongodb", mongo_probe), *readiness_checks(account_events)],
        lifespan=lifespan,
    )
    app.state.tokens = tokens
    if container is not None:
        app.state.container = container
    for area in (sales, me, analytics, freshness, operations):
        app.include_router(area.router)
    return app
