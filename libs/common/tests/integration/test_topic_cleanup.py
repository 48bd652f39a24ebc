"""At its end the test session deletes the Kafka topics named from its `random_name`s, and only those."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from supply_common.testing.fixtures import delete_named_topics, random_name

pytestmark = pytest.mark.integration


async def _topics(servers: str, create: list[str] | None = None) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        if create:
            await admin.create_topics([NewTopic(name, 1, 1) for name in create])
        return set(await admin.list_topics())
    finally:
        await admin.close()


def test_topics_named_from_a_name_are_deleted_and_others_kept(kafka_bootstrap: str) -> None:
    base = random_name("cleanup")
    ours = [base, f"{base}.events", f"{base}.events.dlq", f"{base}_dlq"]
    foreign = [f"cleanup_{secrets.token_hex(4)}", f"{base}x", f"x{base}"]  # close, but not named from it
    assert set(ours + foreign) <= asyncio.run(_topics(kafka_bootstrap, create=ours + foreign))

    delete_named_topics(kafka_bootstrap, {base})

    remaining = asyncio.run(_topics(kafka_bootstrap))
    assert not remaining & set(ours)
    assert set(foreign) <= remaining
    asyncio.run(_delete(kafka_bootstrap, foreign))


async def _delete(servers: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()
