"""Canaries for the stack: each real server answers the way the services rely on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from aiokafka import AIOKafkaConsumer
from bson import Decimal128, ObjectId
from pymongo import MongoClient
from sqlalchemy import create_engine, text

from supply_common.kafka import ensure_topics, make_producer
from supply_common.settings import KafkaSettings
from supply_common.testing.fixtures import random_name

pytestmark = pytest.mark.integration


def test_mariadb_round_trip_through_sqlalchemy(mysql_url: str, fresh_mysql_database) -> None:
    database = fresh_mysql_database("smoke")
    engine = create_engine(f"{mysql_url}/{database}?charset=utf8mb4")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INT PRIMARY KEY, price DECIMAL(12,2), note VARCHAR(50))"))
        connection.execute(text("INSERT INTO t VALUES (1, 866.50, :note)"), {"note": "d'Artagnan \u2713"})
    with engine.connect() as connection:
        row = connection.execute(text("SELECT price, note FROM t WHERE id = 1")).one()
    engine.dispose()
    assert row.price == Decimal("866.50")
    assert row.note == "d'Artagnan \u2713"


async def test_kafka_produce_consume_round_trip_with_a_key(kafka_bootstrap: str) -> None:
    settings = KafkaSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        sales_topic=random_name("smoke.sales"),
        dlq_topic=random_name("smoke.dlq"),
        account_events_topic=random_name("smoke.accounts"),
    )
    created = await ensure_topics(settings)
    assert set(created) == {settings.sales_topic, settings.dlq_topic, settings.account_events_topic}
    assert await ensure_topics(settings) == []

    producer = make_producer(settings)
    await producer.start()
    try:
        metadata = await producer.send_and_wait(settings.sales_topic, b'{"hello":1}', key=b"5bd761dcae323e45a93ccfe8")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        settings.sales_topic,
        **settings.kafka_client_options(),
        group_id=random_name("smoke"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert record.key == b"5bd761dcae323e45a93ccfe8"
    assert record.value == b'{"hello":1}'
    assert record.partition == metadata.partition


def test_mongodb_wire_upsert_and_find_with_money_and_a_date(mongo_url: str) -> None:
    """Money is Decimal128 on MongoDB. FerretDB v1 has no Decimal128 (a document holding one drops the
    connection), so there the copy keeps money as a double whose shortest text is the exact decimal
    (see services/mongo-projector/README.md); this canary checks whichever the server is."""
    client: MongoClient = MongoClient(mongo_url, tz_aware=True, serverSelectionTimeoutMS=10_000)
    is_ferretdb = "ferretdbVersion" in client.admin.command("buildinfo")
    money = float("56.12") if is_ferretdb else Decimal128("56.12")
    database = client[random_name("test_smoke")]
    try:
        oid = ObjectId()
        when = datetime(2015, 3, 23, 21, 6, 49, 506000, tzinfo=UTC)
        database.sales.update_one(
            {"_id": oid},
            {"$set": {"saleDate": when, "items": [{"name": "pens", "price": money, "quantity": 5}]}},
            upsert=True,
        )
        database.sales.update_one({"_id": oid}, {"$set": {"items.0.quantity": 6}}, upsert=True)
        found = database.sales.find_one({"_id": oid})
    finally:
        client.drop_database(database.name)
        client.close()
    assert found is not None
    assert found["saleDate"] == when
    assert found["items"][0]["price"] == money
    assert str(found["items"][0]["price"]) == "56.12"
    assert found["items"][0]["quantity"] == 6
    assert type(found["items"][0]["quantity"]) is int
