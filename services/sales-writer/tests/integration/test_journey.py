"""`GET /internal/sales/{id}/journey`: each change of a sale, when it was committed, and when and where
(partition, offset) the relay published it, as a consumer of the topic finds it."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from supply_common.contract import Actor, SaleBody
from supply_sales_writer.adapters.schema import outbox

pytestmark = pytest.mark.integration
WORKER_ACTOR = Actor(user_id="worker-1", role="technical_worker")


def _journey_once_published(client: TestClient, kit, sale_id: str, count: int) -> dict:
    deadline = time.monotonic() + 20
    while True:
        journey = client.get(f"/internal/sales/{sale_id}/journey", headers=kit.operator).json()
        if sum(e["published_at"] is not None for e in journey["events"]) >= count or time.monotonic() > deadline:
            return journey
        time.sleep(0.1)


def test_the_journey_tells_when_and_where_each_change_was_published(client: TestClient, kit) -> None:
    sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
    client.put(f"/sales/{sale_id}", json=kit.body(), headers=kit.worker | {"If-Match": '"1"'})
    records = kit.consume(2)

    journey = _journey_once_published(client, kit, sale_id, 2)

    assert journey["sale_id"] == sale_id
    assert journey["version"] == 2
    assert journey["deleted_version"] is None
    events = journey["events"]
    assert [(e["event_type"], e["version"]) for e in events] == [("sale.created", 1), ("sale.updated", 2)]
    assert [(e["partition"], e["offset"]) for e in events] == [(r.partition, r.offset) for r in records]
    for event in events:
        committed = datetime.fromisoformat(event["committed_at"])
        assert datetime.fromisoformat(event["published_at"]) >= committed
        assert event["trace_id"] is None  # not traced
    assert journey["outbox_retention_s"] == kit.settings.outbox_retention_s


def test_the_journey_of_a_deleted_sale_and_of_an_unknown_one(client: TestClient, kit) -> None:
    sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
    client.delete(f"/sales/{sale_id}", headers=kit.worker | {"If-Match": '"1"'})
    journey = _journey_once_published(client, kit, sale_id, 2)
    assert journey["version"] is None
    assert journey["deleted_version"] == 2
    assert [e["event_type"] for e in journey["events"]] == ["sale.created", "sale.deleted"]

    unknown = client.get(f"/internal/sales/{'0' * 24}/journey", headers=kit.operator).json()
    assert unknown == {
        "sale_id": "0" * 24,
        "version": None,
        "deleted_version": None,
        "events": [],
        "outbox_retention_s": kit.settings.outbox_retention_s,
    }
    assert client.get("/internal/sales/not-an-id/journey", headers=kit.operator).status_code == 422


def test_every_row_of_a_batch_is_placed_where_its_record_landed(client: TestClient, kit) -> None:
    """Rows of one claim go to several partitions in several producer batches: each row's partition
    and offset are those of its own record."""
    body = SaleBody.model_validate(kit.body())
    kit.container.service.create_many([(body, WORKER_ACTOR)] * 40)
    records = kit.consume(40)
    landed = {(record.key.decode(), record.partition, record.offset) for record in records}
    with kit.container.engine.connect() as connection:
        rows = connection.execute(
            select(outbox.c.msg_key, outbox.c.published_partition, outbox.c.published_offset)
        ).all()
    assert len({partition for _, partition, _ in landed}) > 1
    assert {(key.decode(), partition, offset) for key, partition, offset in rows} == landed
