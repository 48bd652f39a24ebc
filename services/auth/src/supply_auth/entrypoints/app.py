"""The auth HTTP app: a thin factory around the `Container` that `bootstrap` builds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response

from supply_auth.bootstrap import Container, bootstrap
from supply_auth.entrypoints.problems import PROBLEMS
from supply_auth.entrypoints.routes import accounts, staff, tokens
from supply_common.db import ping
from supply_common.kafka import account_topics, ensure_topics
from supply_common.problems import ProblemError
from supply_common.web import ReadinessCheck, in_background, problem_response
from supply_common.web import create_app as create_service_app

log = logging.getLogger(__name__)


def create_app(container: Container | None = None) -> FastAPI:
    """The app over `container`, or over one `bootstrap` wires from the environment (closed when the
    app stops; a container passed in stays the caller's to close)."""
    owned = container is None
    wired = container or bootstrap()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        relay = _relay(wired) if wired.settings.auth_relay_enabled else None
        try:
            async with in_background(relay, "account-events-relay"):
                yield
        finally:
            if owned:
                wired.close()

    async def database() -> None:
        await asyncio.to_thread(ping, wired.engine)

    async def signing_key() -> None:
        wired.keys.signer()

    async def account_events() -> str:
        return wired.relay.status()

    app = create_service_app(
        service="auth",
        title="Supply Store auth",
        description="Accounts, roles, login, and the signed access tokens every other service trusts.",
        max_body_bytes=wired.settings.max_body_bytes,
        checks=[
            ReadinessCheck("database", database),
            ReadinessCheck("signing_key", signing_key),
            *(
                [ReadinessCheck("account_events", account_events, critical=False)]
                if wired.settings.auth_relay_enabled
                else []
            ),
        ],
        lifespan=lifespan,
    )
    app.state.container = wired
    for exc_type, to_problem in PROBLEMS.items():
        app.add_exception_handler(exc_type, _handler(to_problem))
    for router in (accounts.router, tokens.router, staff.router):
        app.include_router(router)
    return app


TOPIC_RETRY_S = 2.0


async def _relay(wired: Container) -> None:
    """Make sure the topic exists, then publish the outbox until cancelled. In the background: a
    broker that is away delays the events, never the service's start. The topic is asked for until it
    exists, since every verifier waits for it (a replay of a topic that is not there never ends)."""
    while True:
        try:
            await ensure_topics(wired.settings, timeout_s=5, topics=account_topics)
            break
        except Exception as exc:  # noqa: BLE001 - whatever stops it (broker away, ACLs not yet written) passes
            log.warning("the account-events topic cannot be made yet", extra={"error": str(exc)})
            await asyncio.sleep(TOPIC_RETRY_S)
    await wired.relay.run()


def _handler(to_problem: Callable[[Exception], ProblemError]) -> Callable[[Request, Exception], Any]:
    async def handle(request: Request, exc: Exception) -> Response:
        return problem_response(to_problem(exc), request.url.path)

    return handle
