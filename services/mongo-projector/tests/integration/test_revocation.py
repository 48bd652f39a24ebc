"""The read API, called directly, refuses an access token within a second of the account event that
revoked it (read from the broker, as auth publishes it), and answers 503 to every token while the
account events have not been replayed: it cannot tell a revoked token from a good one yet."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from supply_common.kafka import account_topics, ensure_topics
from supply_common.testing.account_events import publish_disabled
from supply_common.testing.fixtures import random_name
from supply_common.testing.tokens import ISSUER_FOR_TESTS as ISSUER
from supply_projector.bootstrap import Container, bootstrap
from supply_projector.config import ProjectorSettings
from supply_projector.entrypoints.app import create_app

pytestmark = pytest.mark.integration

NO_SALE = "/sales/000000000000000000000000"
"""Any worker may ask; 404 once the token is accepted."""


def following(settings: ProjectorSettings, **changes: object) -> ProjectorSettings:
    topic = random_name("test_reads_accounts") + ".account-events"
    return settings.model_copy(update={"revocations_enabled": True, "account_events_topic": topic, **changes})


@asynccontextmanager
async def serving(settings: ProjectorSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The read API over `settings`, through its whole lifespan (start-up waits for the replay)."""
    container: Container = bootstrap(settings)
    app = create_app(container)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://projector") as client:
                yield client
    finally:
        container.close()


async def test_a_token_is_refused_within_a_second_of_the_event_that_revoked_it(settings: ProjectorSettings) -> None:
    revoking = following(settings)
    await ensure_topics(revoking, topics=account_topics)
    user, other = f"U-{secrets.token_hex(4)}", f"U-{secrets.token_hex(4)}"
    token, bystander = ISSUER.bearer(sub=user, gen=0), ISSUER.bearer(sub=other, gen=0)
    async with serving(revoking) as client:
        assert (await client.get(NO_SALE, headers=token)).status_code == 404
        await publish_disabled(revoking, user, token_generation=1)
        published = time.monotonic()
        while (response := await client.get(NO_SALE, headers=token)).status_code != 401:
            assert time.monotonic() - published < 1.0, f"still answered {response.status_code} after a second"
            await asyncio.sleep(0.01)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert (await client.get(NO_SALE, headers=bystander)).status_code == 404
        assert (await client.get(NO_SALE, headers=ISSUER.bearer(sub=user, gen=1))).status_code == 404  # signed in again


async def test_tokens_are_answered_503_until_the_account_events_are_replayed(settings: ProjectorSettings) -> None:
    # A topic that does not exist (yet): the replay cannot end, and start-up stops waiting for it.
    async with serving(following(settings, revocations_replay_wait_s=0.2)) as client:
        refused = await client.get(NO_SALE, headers=ISSUER.bearer(sub=f"U-{secrets.token_hex(4)}", gen=0))
        ready = await client.get("/readyz")
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert ready.status_code == 503
    assert "account-events" in ready.text
