"""The sales-writer, called directly, refuses an access token within a second of the account event
that revoked it (read from the broker, as auth publishes it), and answers 503 to every token while
the account events have not been replayed: it cannot tell a revoked token from a good one yet."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from supply_common.kafka import account_topics, ensure_topics
from supply_common.testing.account_events import publish_disabled
from supply_common.testing.fixtures import random_name
from supply_common.testing.tokens import ISSUER_FOR_TESTS as ISSUER
from supply_sales_writer.bootstrap import bootstrap
from supply_sales_writer.config import SalesWriterSettings
from supply_sales_writer.entrypoints.app import create_app

pytestmark = pytest.mark.integration

NO_SALE = "/sales/000000000000000000000000"
"""Any worker may ask; 404 once the token is accepted."""


def following(settings: SalesWriterSettings, **changes: object) -> SalesWriterSettings:
    topic = random_name("test_writer_accounts") + ".account-events"
    return settings.model_copy(update={"revocations_enabled": True, "account_events_topic": topic, **changes})


@pytest.fixture
def revoking(settings: SalesWriterSettings) -> Iterator[tuple[TestClient, SalesWriterSettings]]:
    """A sales-writer following account events of its own topic (created, so replayed at once)."""
    made = following(settings)
    asyncio.run(ensure_topics(made, topics=account_topics))
    container = bootstrap(made)
    try:
        with TestClient(create_app(container)) as client:
            yield client, made
    finally:
        container.engine.dispose()


def test_a_token_is_refused_within_a_second_of_the_event_that_revoked_it(
    revoking: tuple[TestClient, SalesWriterSettings],
) -> None:
    client, settings = revoking
    user, other = f"U-{secrets.token_hex(4)}", f"U-{secrets.token_hex(4)}"
    token, bystander = ISSUER.bearer(sub=user, gen=0), ISSUER.bearer(sub=other, gen=0)
    assert client.get(NO_SALE, headers=token).status_code == 404
    asyncio.run(publish_disabled(settings, user, token_generation=1))
    published = time.monotonic()
    while (response := client.get(NO_SALE, headers=token)).status_code != 401:
        assert time.monotonic() - published < 1.0, f"still answered {response.status_code} after a second"
        time.sleep(0.01)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert client.get(NO_SALE, headers=bystander).status_code == 404
    assert client.get(NO_SALE, headers=ISSUER.bearer(sub=user, gen=1)).status_code == 404  # signed in again


def test_tokens_are_answered_503_until_the_account_events_are_replayed(settings: SalesWriterSettings) -> None:
    # A topic that does not exist (yet): the replay cannot end, and start-up stops waiting for it.
    container = bootstrap(following(settings, revocations_replay_wait_s=0.2))
    try:
        with TestClient(create_app(container)) as client:
            refused = client.get(NO_SALE, headers=ISSUER.bearer(sub=f"U-{secrets.token_hex(4)}", gen=0))
            ready = client.get("/readyz")
    finally:
        container.engine.dispose()
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert ready.status_code == 503
    assert "account-events" in ready.text
