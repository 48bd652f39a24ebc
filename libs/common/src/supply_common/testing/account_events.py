"""Account events published the way auth publishes them, for the tests of the services that follow
them (`supply_common.revocations`)."""

from __future__ import annotations

from datetime import UTC, datetime

from supply_common.contract.account_events import AccountEvent, account_event
from supply_common.kafka import make_producer
from supply_common.settings import KafkaSettings


async def publish_disabled(settings: KafkaSettings, user_id: str, token_generation: int = 1) -> None:
    """What auth publishes when it disables `user_id`: its tokens of an older generation are refused.
    Returns once the broker has the record."""
    event = account_event(
        "account.disabled",
        user_id=user_id,
        occurred_at=datetime.now(UTC),
        token_generation=token_generation,
        revoked_sessions=(),
        role="technical_worker",
        disabled=True,
    )
    await publish(settings, event)


async def publish(settings: KafkaSettings, event: AccountEvent) -> None:
    """Put `event` on the account-events topic, keyed as auth keys it; returns once the broker has it."""
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(settings.account_events_topic, event.encode(), key=event.key)
    finally:
        await producer.stop()
