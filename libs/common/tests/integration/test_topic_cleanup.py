"""At its end the test session deletes the Kafka topics named from its `random_name`s, and only those."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from supply_common.settings import KafkaSettings
from supply_common.testing.fixtures import delete_named_topics, random_name

pytestmark = pytest.mark.integration


def _admin(servers: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**KafkaSettings(kafka_bootstrap_servers=servers).kafka_client_options())


async def _topics(servers: str, create: list[str] | None = None) -> set[str]:
    admin = _admin(servers)
    await admin.start()
    try:
        if create:
            await admin.create_topics([NewTopic(name, 1, 1) for name in create])
        return set(await admin.list_topics())
    finally:
        await admin.close()


def _listed_once(servers: str, done: Callable[[set[str]], bool], timeout_s: float = 15.0) -> set[str]:
    """The broker's topic list as soon as `done` holds for it (a created or deleted topic reaches the
    metadata a moment after the request returns), or the last list after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        names = asyncio.run(_topics(servers))
        if done(names) or time.monotonic() > deadline:
            return names
        time.sleep(0.2)


def test_topics_named_from_a_name_are_deleted_and_others_kept(kafka_bootstrap: str) -> None:
    base = random_name("cleanup")
    ours = [base, f"{base}.events", f"{base}.events.dlq", f"{base}_dlq"]
    foreign = [f"cleanup_{secrets.token_hex(4)}", f"{base}x", f"x{base}"]  # close, but not named from it
    asyncio.run(_topics(kafka_bootstrap, create=ours + foreign))
    assert set(ours + foreign) <= _listed_once(kafka_bootstrap, lambda names: set(ours + foreign) <= names)

    delete_named_topics(kafka_bootstrap, {base})

    remaining = _listed_once(kafka_bootstrap, lambda names: not names & set(ours))
    assert not remaining & set(ours)
    assert set(foreign) <= remaining
    asyncio.run(_delete(kafka_bootstrap, foreign))


async def _delete(servers: str, names: list[str]) -> None:
    admin = _admin(servers)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()
