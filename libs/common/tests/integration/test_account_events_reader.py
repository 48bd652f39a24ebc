"""The account-events reader against the real broker: it replays the topic before it calls itself
caught up, then applies each new record as soon as it is published."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from supply_common.contract.account_events import account_event
from supply_common.kafka import ensure_topics
from supply_common.revocations import AccountEventsReader, Revocations, RevocationsUnknown
from supply_common.settings import KafkaSettings
from supply_common.testing import account_events
from supply_common.testing.fixtures import random_name

pytestmark = pytest.mark.integration


def settings_for(kafka_bootstrap: str) -> KafkaSettings:
    return KafkaSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        sales_topic=random_name("test_reader_sales"),
        dlq_topic=random_name("test_reader_dlq"),
        account_events_topic=random_name("test_reader") + ".account-events",
    )


async def publish(settings: KafkaSettings, user: str, generation: int, session: str | None = None) -> None:
    now = datetime.now(UTC)
    event = account_event(
        "account.disabled" if session is None else "account.logged_out",
        user_id=user,
        occurred_at=now,
        token_generation=generation,
        revoked_sessions=((session, now + timedelta(minutes=6)),) if session else (),
        role="technical_worker",
        disabled=session is None,
    )
    await account_events.publish(settings, event)


async def test_a_reader_replays_what_was_published_before_it_started_then_follows(kafka_bootstrap: str) -> None:
    settings = settings_for(kafka_bootstrap)
    await ensure_topics(settings)
    await publish(settings, "U-before", 1)
    reader = AccountEventsReader(settings, Revocations())
    with pytest.raises(RevocationsUnknown):
        reader.is_revoked({"sub": "U-before", "gen": 0})
    task = asyncio.create_task(reader.run())
    try:
        assert await reader.wait_caught_up(15)
        assert reader.is_revoked({"sub": "U-before", "gen": 0})
        assert not reader.is_revoked({"sub": "U-before", "gen": 1})

        claims = {"sub": "U-after", "gen": 0, "sid": "S1"}
        assert not reader.is_revoked(claims)
        await publish(settings, "U-after", 0, session="S1")
        published = time.monotonic()
        while not reader.is_revoked(claims):
            assert time.monotonic() - published < 1.0, "not refused within a second of its publication"
            await asyncio.sleep(0.005)
        assert not reader.is_revoked({**claims, "sid": "S2"})
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_reader_is_not_caught_up_until_the_topic_exists(kafka_bootstrap: str) -> None:
    settings = settings_for(kafka_bootstrap)
    reader = AccountEventsReader(settings, Revocations(), retry_s=0.2)
    task = asyncio.create_task(reader.run())
    try:
        assert not await reader.wait_caught_up(2)
        with pytest.raises(RevocationsUnknown):
            reader.is_revoked({"sub": "U1", "gen": 0})
        await ensure_topics(settings)
        assert await reader.wait_caught_up(15)
        assert not reader.is_revoked({"sub": "U1", "gen": 0})
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
