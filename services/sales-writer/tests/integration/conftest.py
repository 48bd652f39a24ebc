"""Real MariaDB and Kafka: a throwaway database (migrated) and throwaway topics per test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text

from supply_common.kafka import ensure_topics, sales_topics
from supply_common.testing.fixtures import random_name
from supply_common.testing.sales import sale_body as a_sale
from supply_common.testing.tokens import ISSUER_FOR_TESTS as ISSUER
from supply_sales_writer.adapters.migrate import upgrade
from supply_sales_writer.adapters.schema import outbox, sales
from supply_sales_writer.bootstrap import Container, bootstrap, make_sales_engine
from supply_sales_writer.config import InsertMode, SalesWriterSettings
from supply_sales_writer.entrypoints.app import create_app

WORKER = ISSUER.bearer("technical_worker", sub="worker-1", email="w@example.com")
MANAGER = ISSUER.bearer("senior_management", sub="boss-1", email="b@example.com")
CUSTOMER = ISSUER.bearer("customer", sub="cust-1", email="c@example.com")
OPERATOR = ISSUER.service_bearer("sales:digest", "sales:republish", "outbox:read", subject="test-operator")
"""A service credential with every operator scope (the internal routes' own tests check each scope)."""


def sale_body(**changes: Any) -> dict[str, Any]:
    """A sale whose second price is a JSON number: the create's fast lane hands it on to the route."""
    items = [
        {"name": "pens", "tags": ["writing", "office"], "price": "2.50", "quantity": 3},
        {"name": "laptop", "tags": ["electronics"], "price": 899.99, "quantity": 1},
    ]
    fields = {"store": "London", "email": "x@example.org", "saleDate": "2024-05-01T10:00:00.123Z", "items": items}
    return a_sale(**{**fields, **changes})


EVERY_INSERT_MODE = pytest.mark.parametrize("insert_mode", ["compound", "separate"])
"""For a module whose tests must hold however the INSERTs go out: one block as on MariaDB, and one
statement each as on MySQL (which has no anonymous blocks)."""


@pytest.fixture
def insert_mode() -> InsertMode:
    """How the container under test sends a transaction's INSERTs (`EVERY_INSERT_MODE` sets it)."""
    return "auto"


@pytest.fixture
def settings(
    mysql_url: str, kafka_bootstrap: str, fresh_mysql_database: Callable[[str], str], insert_mode: InsertMode
) -> SalesWriterSettings:
    configured = SalesWriterSettings(
        mysql_url=mysql_url,  # type: ignore[arg-type]
        mysql_database=fresh_mysql_database("sales"),
        mysql_pool_size=8,
        mysql_insert_mode=insert_mode,
        kafka_bootstrap_servers=kafka_bootstrap,
        sales_topic=random_name("sales_events"),
        dlq_topic=random_name("sales_events_dlq"),
        sales_topic_partitions=3,
        relay_poll_interval_s=0.05,
        auth_jwks_url=ISSUER.jwks_url,
        revocations_enabled=False,  # followed in test_revocation.py, over a topic of its own
    )
    engine = make_sales_engine(configured)
    upgrade(engine)
    engine.dispose()
    asyncio.run(ensure_topics(configured, topics=sales_topics))
    return configured


@pytest.fixture
def container(settings: SalesWriterSettings) -> Iterator[Container]:
    made = bootstrap(settings)
    yield made
    made.engine.dispose()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as test_client:
        yield test_client


class Kit:
    """What the tests need besides the client: headers, bodies, table counts, the topic's contents."""

    worker = WORKER
    manager = MANAGER
    customer = CUSTOMER
    operator = OPERATOR

    def __init__(self, settings: SalesWriterSettings, container: Container) -> None:
        self.settings = settings
        self.container = container

    @staticmethod
    def body(**changes: Any) -> dict[str, Any]:
        return sale_body(**changes)

    def count(self, table: Any = sales) -> int:
        with self.container.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(table)).scalar_one()

    def unpublished(self) -> int:
        with self.container.engine.connect() as connection:
            return connection.execute(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            ).scalar_one()

    def statements(self) -> list[str]:
        """Every statement the container's engine sends from now on (appended as they go)."""
        sent: list[str] = []

        def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            sent.append(statement)

        event.listen(self.container.engine, "before_cursor_execute", record)
        return sent

    def execute(self, sql: str) -> None:
        with self.container.engine.begin() as connection:
            connection.execute(text(sql))

    def consume(
        self, expected: int, *, timeout_s: float = 20.0, quiet_s: float = 1.0
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """Read the topic from the start until `expected` records came and then nothing for `quiet_s`."""
        settings = self.settings

        async def main() -> list[ConsumerRecord[bytes, bytes]]:
            consumer = AIOKafkaConsumer(
                settings.sales_topic,
                **settings.kafka_client_options(),
                auto_offset_reset="earliest",
                enable_auto_commit=False,
            )
            await consumer.start()
            loop = asyncio.get_running_loop()
            records: list[ConsumerRecord[bytes, bytes]] = []
            try:
                deadline = loop.time() + timeout_s
                quiet_until = None
                while loop.time() < deadline:
                    batch = await consumer.getmany(timeout_ms=100)
                    fresh = [record for part in batch.values() for record in part]
                    records.extend(fresh)
                    if len(records) >= expected:
                        if fresh or quiet_until is None:
                            quiet_until = loop.time() + quiet_s
                        elif loop.time() >= quiet_until:
                            break
            finally:
                await consumer.stop()
            return records

        return asyncio.run(main())

    @staticmethod
    def envelopes(records: list[ConsumerRecord[bytes, bytes]]) -> list[dict[str, Any]]:
        return [json.loads(record.value) for record in records if record.value is not None]


@pytest.fixture
def kit(settings: SalesWriterSettings, container: Container) -> Kit:
    return Kit(settings, container)
