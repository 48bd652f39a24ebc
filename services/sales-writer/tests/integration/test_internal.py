"""The internal routes for drift control and operations."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from supply_common.contract import from_document, sale_hash
from supply_sales_writer.adapters.schema import outbox

from .conftest import EVERY_INSERT_MODE

pytestmark = [pytest.mark.integration, EVERY_INSERT_MODE]


def test_the_digest_lists_id_version_and_content_hash_in_id_order(client: TestClient, kit) -> None:
    made = [client.post("/sales", json=kit.body(), headers=kit.worker).json() for _ in range(5)]
    client.put(f"/sales/{made[0]['id']}", json=kit.body(couponUsed=True), headers=kit.worker | {"If-Match": '"1"'})
    digest = client.get("/internal/sales/digest", params={"limit": 3}).json()
    rest = client.get("/internal/sales/digest", params={"after": digest[-1]["id"]}).json()
    entries = digest + rest
    assert [e["id"] for e in entries] == sorted(m["id"] for m in made)
    for entry in entries:
        current = client.get(f"/sales/{entry['id']}", headers=kit.worker).json()
        assert entry["version"] == current["version"]
        assert entry["hash"] == sale_hash(from_document(current["sale"]))
    assert client.get("/internal/sales/digest", params={"limit": 0}).status_code == 422


def test_republish_re_emits_current_state_as_repair_without_a_new_version(client: TestClient, kit) -> None:
    kept = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
    gone = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
    client.delete(f"/sales/{gone}", headers=kit.worker | {"If-Match": '"1"'})
    never = "5bd761dcae323e45a93ccfe8"
    answer = client.post("/internal/sales/republish", json={"ids": [kept, gone, never]}).json()
    assert answer == {"republished": 2, "unknown": [never]}
    assert client.post("/internal/sales/republish", json={"all": True}).json()["republished"] == 1
    assert client.post("/internal/sales/republish", json={}).status_code == 422

    repairs = [e for e in kit.envelopes(kit.consume(6)) if e["repair"]]
    assert sorted((e["sale_id"], e["version"], e["event_type"]) for e in repairs) == sorted(
        [(kept, 1, "sale.updated"), (gone, 2, "sale.deleted"), (kept, 1, "sale.updated")]
    )
    assert client.get(f"/sales/{kept}", headers=kit.worker).json()["version"] == 1


def test_outbox_stats_and_purge_of_published_rows(client: TestClient, kit) -> None:
    client.post("/sales", json=kit.body(), headers=kit.worker)
    kit.consume(1, quiet_s=0.2)
    for _ in range(50):
        stats = client.get("/internal/outbox/stats").json()
        if stats["backlog"] == 0:
            break
        asyncio.run(asyncio.sleep(0.05))
    assert stats["backlog"] == 0
    assert stats["oldest_unpublished_age_s"] is None
    assert stats["relay"] == "ok"
    assert stats["last_published_at"].endswith("Z")
    assert kit.container.new_relay(retention=timedelta(hours=1)).purge() == 0
    assert kit.container.new_relay(retention=timedelta(0)).purge() == 1
    assert kit.count(outbox) == 0
    metrics = client.get("/metrics").text
    assert "sales_writer_publish_latency_seconds_count" in metrics
    assert "sales_writer_outbox_backlog" in metrics


def test_two_relays_at_once_publish_everything_exactly_once(kit) -> None:
    from supply_sales_writer.bootstrap import bootstrap
    from supply_sales_writer.entrypoints.app import create_app

    quiet = bootstrap(kit.settings.model_copy(update={"relay_enabled": False}))
    with TestClient(create_app(quiet)) as client:
        client.post("/sales/import", content=_generated(300), headers=kit.worker)

    async def both() -> None:
        relays = [kit.container.new_relay(batch_size=20) for _ in range(2)]
        tasks = [asyncio.create_task(relay.run()) for relay in relays]
        for _ in range(200):
            if kit.unpublished() == 0:
                break
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(both())
    events = kit.envelopes(kit.consume(300))
    assert len(events) == 300
    assert len({e["sale_id"] for e in events}) == 300
    assert kit.count(outbox) == 300


def _generated(count: int) -> bytes:
    from supply_common.testing import dataset

    return "\n".join(dataset.lines(count, seed=11)).encode()


def test_republish_during_changes_never_puts_an_older_version_after_a_newer_one(kit) -> None:
    """The outbox is published in id order and the topic keeps each sale's last record: per sale,
    versions must not go down as outbox ids go up, or a rebuild from offset 0 restores a stale sale
    (or one deleted since)."""
    from supply_common.contract import Actor, SaleBody

    service = kit.container.service
    actor = Actor(user_id="worker-1", role="technical_worker")
    bodies = [SaleBody.model_validate(kit.body(couponUsed=flag)) for flag in (False, True)]
    ids = [service.create(bodies[0], actor).view["id"] for _ in range(40)]
    versions = dict.fromkeys(ids, 1)
    done = threading.Event()

    def change() -> None:
        try:
            for round_ in range(12):
                for sale_id in ids:
                    if round_ == 11 and sale_id in ids[:10]:
                        service.delete(sale_id, frozenset({versions[sale_id]}), actor)
                    else:
                        service.update(sale_id, bodies[round_ % 2], frozenset({versions[sale_id]}), actor)
                    versions[sale_id] += 1
        finally:
            done.set()

    def republish() -> None:
        while not done.is_set():
            service.republish(None, batch=7)
            service.republish(ids[::3], batch=5)

    threads = [threading.Thread(target=change), threading.Thread(target=republish)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with kit.container.engine.connect() as connection:
        rows = connection.execute(select(outbox.c.msg_key, outbox.c.payload).order_by(outbox.c.id)).all()
    last: dict[bytes, int] = {}
    backwards = []
    for key, payload in rows:
        version = json.loads(payload)["version"]
        if version < last.get(key, 0):
            backwards.append((key.decode(), last[key], version))
        last[key] = max(version, last.get(key, 0))
    assert any(json.loads(payload)["repair"] for _, payload in rows)
    assert backwards == []
    assert {key.decode(): version for key, version in last.items()} == versions
