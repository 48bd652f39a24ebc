"""Integration support: a throwaway database, topics and group per test, against real servers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from supply_common.contract import SaleEvent
from supply_common.kafka import ensure_topics, make_producer, sales_topics
from supply_common.testing.fixtures import random_name
from supply_common.testing.tokens import ISSUER_FOR_TESTS as ISSUER
from supply_projector.adapters.kafka import KafkaOffsets
from supply_projector.bootstrap import Container, bootstrap
from supply_projector.config import ProjectorSettings
from supply_projector.entrypoints.app import create_app
from supply_projector.entrypoints.consumer import ConsumerLoop

CLI = str(Path(sys.executable).parent / "mongo-projector")


@pytest.fixture
async def settings(mongo_url: str, kafka_bootstrap: str) -> AsyncIterator[ProjectorSettings]:
    topic = random_name("test_sales")
    made = ProjectorSettings(
        mongo_url=mongo_url,  # type: ignore[arg-type]
        mongo_database=random_name("test_proj"),
        kafka_bootstrap_servers=kafka_bootstrap,
        sales_topic=topic,
        dlq_topic=f"{topic}_dlq",
        consumer_group=random_name("test_group"),
        sales_topic_partitions=6,
        poll_timeout_ms=200,
        auth_jwks_url=ISSUER.jwks_url,
        revocations_enabled=False,  # followed in test_revocation.py, over a topic of its own
    )
    await ensure_topics(made, topics=sales_topics)
    yield made
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_url)
    client.drop_database(made.mongo_database)
    client.close()


@pytest.fixture
def container(settings: ProjectorSettings) -> Iterator[Container]:
    wired = bootstrap(settings)
    yield wired
    wired.close()


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The read API over `container`, called in process, its consumer offsets read from Kafka."""
    app = create_app(container)
    app.state.offsets = KafkaOffsets(container.settings, container.settings.consumer_group)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://projector") as made:
        yield made
    await app.state.offsets.close()


async def produce(settings: ProjectorSettings, events: Sequence[SaleEvent | tuple[bytes | None, bytes | None]]) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for item in events:
            if isinstance(item, SaleEvent):
                await producer.send(settings.sales_topic, value=item.to_bytes(), key=item.key)
            else:
                await producer.send(settings.sales_topic, value=item[1], key=item[0])
        await producer.flush()
    finally:
        await producer.stop()


async def wait_for(condition: Callable[[], bool], timeout_s: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if await asyncio.to_thread(condition):
                return
        except PyMongoError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


@asynccontextmanager
async def consuming(container: Container) -> AsyncIterator[ConsumerLoop]:
    """A consumer loop in this process, stopped (finish, commit, leave) on exit."""
    loop = ConsumerLoop(container)
    task = asyncio.create_task(loop.run())
    try:
        yield loop
    finally:
        loop.stop()
        await asyncio.wait_for(task, 30)


def sales_of(container: Container, strip: Sequence[str] = ("applied_at",)) -> dict[str, dict[str, Any]]:
    """The active collection's documents by id, without the named metadata entries."""
    found = {}
    for document in container.database[container.active.name()].find():
        meta = {k: v for k, v in document.get("_supply", {}).items() if k not in strip}
        found[str(document["_id"])] = {**document, "_supply": meta}
    return found


def versions_of(container: Container) -> dict[str, int]:
    collection = container.database[container.active.name()]
    return {str(d["_id"]): int(d["_supply"]["version"]) for d in collection.find({}, {"_supply.version": 1})}


def process_env(settings: ProjectorSettings) -> dict[str, str]:
    return {
        **os.environ,
        "MONGO_URL": settings.mongo_url.get_secret_value(),
        "MONGO_DATABASE": settings.mongo_database,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "SALES_TOPIC": settings.sales_topic,
        "DLQ_TOPIC": settings.dlq_topic,
        "CONSUMER_GROUP": settings.consumer_group,
        "POLL_TIMEOUT_MS": "200",
        "SESSION_TIMEOUT_MS": "8000",
        "METRICS_PORT": "0",
        "HEARTBEAT_FILE": "",
        "LOG_LEVEL": "INFO",
    }


def start_consumer(settings: ProjectorSettings, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [CLI, "consume"], env=process_env(settings), stdout=subprocess.DEVNULL, stderr=log.open("ab")
    )
