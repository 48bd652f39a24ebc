"""Direct looks at the stores behind the services: topic records, the outbox, a poison record."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import Engine, text

from supply_common.kafka import client_options


async def _records(bootstrap: str, topic: str, timeout_s: float) -> list[tuple[bytes | None, bytes | None]]:
    consumer = AIOKafkaConsumer(
        topic, **client_options(bootstrap), enable_auto_commit=False, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while not consumer.assignment():
            if loop.time() > deadline:
                raise TimeoutError(f"no partitions of {topic} within {timeout_s} s")
            await asyncio.sleep(0.1)
        partitions = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[tuple[bytes | None, bytes | None]] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            if loop.time() > deadline:
                raise TimeoutError(f"reading {topic} took more than {timeout_s} s")
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                found += [(message.key, message.value) for message in messages]
        return found
    finally:
        await consumer.stop()


def records(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[tuple[bytes | None, bytes | None]]:
    """Every record of a topic, from the beginning to the end offsets at the time of the call."""
    return asyncio.run(_records(bootstrap, topic, timeout_s))


def duplicates(bootstrap: str, topic: str) -> int:
    """Records whose event id was delivered before (at-least-once redelivery)."""
    ids = Counter(json.loads(value)["event_id"] for _, value in records(bootstrap, topic) if value)
    return sum(count - 1 for count in ids.values())


async def _produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(**client_options(bootstrap), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    asyncio.run(_produce(bootstrap, topic, key, value))


def sales_without_event(engine: Engine) -> list[str]:
    """Sales (and deletes) in MySQL whose current version has no event in the outbox."""
    with engine.connect() as connection:
        current: dict[str, Any] = dict(
            connection.execute(text("SELECT sale_id, last_version FROM deleted_sales")).all()
        )
        current.update(dict(connection.execute(text("SELECT id, version FROM sales")).all()))
        payloads = connection.execute(text("SELECT payload FROM outbox")).scalars().all()
    emitted = {(event["sale_id"], event["version"]) for event in map(json.loads, payloads)}
    return sorted(sale_id for sale_id, version in current.items() if (sale_id, version) not in emitted)


def outbox_backlog(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")).scalar_one())
