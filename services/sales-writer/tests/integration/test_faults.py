"""Faults: a relay dying between publish and mark, Kafka away, MySQL away."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import murmur2
from fastapi.testclient import TestClient

from supply_common.contract import Actor, SaleBody, SaleEvent
from supply_common.testing import SAMPLE_DATASET
from supply_sales_writer.adapters import outbox
from supply_sales_writer.adapters.outbox import OutboxRow
from supply_sales_writer.bootstrap import bootstrap
from supply_sales_writer.config import SalesWriterSettings
from supply_sales_writer.entrypoints.app import create_app

pytestmark = pytest.mark.integration


class Killed(Exception):
    pass


async def _die(rows: list[OutboxRow]) -> None:
    raise Killed


def test_a_relay_killed_after_publishing_before_marking_duplicates_but_never_loses(kit) -> None:
    quiet = bootstrap(kit.settings.model_copy(update={"relay_enabled": False}))
    with TestClient(create_app(quiet)) as client:
        ids = [client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"] for _ in range(5)]
    assert kit.unpublished() == 5

    dying = kit.container.new_relay(after_publish=_die)
    with pytest.raises(Killed):
        asyncio.run(_publish_and_close(dying))
    assert kit.unpublished() == 5

    assert asyncio.run(_publish_and_close(kit.container.new_relay())) == 5
    assert kit.unpublished() == 0

    events = kit.envelopes(kit.consume(10))
    seen = Counter((e["sale_id"], e["version"]) for e in events)
    assert seen == {(sale_id, 1): 2 for sale_id in ids}


async def _publish_and_close(relay) -> int:
    try:
        return await relay.publish_once()
    finally:
        await relay.close()


def test_with_kafka_unreachable_writes_succeed_and_all_events_arrive_in_per_key_order_later(kit) -> None:
    broker_down = kit.settings.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"})
    container = bootstrap(broker_down)
    started = time.monotonic()
    with TestClient(create_app(container)) as client:
        ids = []
        for _ in range(50):
            created = client.post("/sales", json=kit.body(), headers=kit.worker)
            assert created.status_code == 201
            ids.append(created.json()["id"])
        for version in (1, 2, 3):
            for sale_id in ids:
                changed = kit.body(
                    customer={"gender": "F", "age": 40 + version, "email": "x@example.org", "satisfaction": 3}
                )
                response = client.put(
                    f"/sales/{sale_id}", json=changed, headers=kit.worker | {"If-Match": f'"{version}"'}
                )
                assert response.status_code == 200
        elapsed = time.monotonic() - started
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["relay"] == "degraded"
        stats = client.get("/internal/outbox/stats").json()
        assert stats["backlog"] == 200
        assert stats["relay"] == "degraded"
        assert stats["oldest_unpublished_age_s"] > 0
    container.engine.dispose()
    assert elapsed < 30

    async def drain() -> None:
        relay = kit.container.new_relay(poll_interval_s=0.05)
        task = asyncio.create_task(relay.run())
        try:
            for _ in range(200):
                if kit.unpublished() == 0:
                    return
                await asyncio.sleep(0.1)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(drain())
    assert kit.unpublished() == 0
    events = kit.envelopes(kit.consume(200))
    assert len(events) == 200
    by_key: dict[str, list[int]] = defaultdict(list)
    for event in events:
        by_key[event["sale_id"]].append(event["version"])
    assert by_key == {sale_id: [1, 2, 3, 4] for sale_id in ids}


def test_the_relay_recovers_when_the_broker_comes_back(kit) -> None:
    """The same relay, first pointed at no broker, then at the real one: degraded, then ok."""
    real = kit.settings.kafka_bootstrap_servers
    address = {"servers": "127.0.0.1:1"}
    from supply_common.kafka import make_producer

    relay = kit.container.new_relay(
        producer_factory=lambda: make_producer(
            kit.settings.model_copy(update={"kafka_bootstrap_servers": address["servers"]}), request_timeout_ms=2000
        )
    )
    with TestClient(create_app(dataclasses.replace(kit.container, relay=relay))) as client:
        sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
        time.sleep(0.5)
        assert client.get("/internal/outbox/stats").json()["relay"] == "degraded"
        address["servers"] = real
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and client.get("/internal/outbox/stats").json()["backlog"]:
            time.sleep(0.1)
        stats = client.get("/internal/outbox/stats").json()
        assert stats == stats | {"backlog": 0, "relay": "ok"}
    assert [e["sale_id"] for e in kit.envelopes(kit.consume(1))] == [sale_id]


def test_mysql_unreachable_gives_503_quickly(kit) -> None:
    url = kit.settings.mysql_url.get_secret_value().rsplit("@", 1)[0] + "@127.0.0.1:1"
    away = SalesWriterSettings(**(kit.settings.model_dump() | {"mysql_url": url, "relay_enabled": False}))
    container = bootstrap(away)
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        for method, path, extra in [
            ("post", "/sales", {"json": kit.body()}),
            ("get", "/sales/5bd761dcae323e45a93ccfe8", {}),
            (
                "put",
                "/sales/5bd761dcae323e45a93ccfe8",
                {"json": kit.body(), "headers": kit.worker | {"If-Match": '"1"'}},
            ),
            ("post", "/sales/import", {"content": SAMPLE_DATASET.read_bytes()}),
        ]:
            headers = extra.pop("headers", kit.worker)
            started = time.monotonic()
            response = getattr(client, method)(path, headers=headers, **extra)
            assert time.monotonic() - started < 5
            assert response.status_code == 503, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["Retry-After"]
        started = time.monotonic()
        assert client.get("/readyz").status_code == 503
        assert time.monotonic() - started < 5
    assert kit.count() == 0


def _backlog(kit, sales: int) -> list[str]:
    """`sales` creates, each updated twice: 3 outbox rows per sale, none published."""
    service = kit.container.service
    actor = Actor(user_id="u-relay", role="technical_worker")
    ids = []
    for _ in range(sales):
        created = service.create(SaleBody.model_validate(kit.body()), actor)
        ids.append(created.view["id"])
    for version in (1, 2):
        for sale_id in ids:
            changed = kit.body(
                customer={"gender": "F", "age": 30 + version, "email": "y@example.org", "satisfaction": 2}
            )
            service.update(sale_id, SaleBody.model_validate(changed), frozenset({version}), actor)
    return ids


def test_a_backlog_of_many_batches_drains_with_overlap_each_event_once_in_per_key_order(kit) -> None:
    ids = _backlog(kit, 30)
    assert kit.unpublished() == 90
    relay = kit.container.new_relay(batch_size=7)

    async def drain() -> list[bool]:
        rounds = []
        try:
            while not rounds or rounds[-1]:
                rounds.append(await relay.drain(budget_s=60))
        finally:
            await relay.close()
        return rounds

    assert asyncio.run(drain())[-1] is False
    assert kit.unpublished() == 0
    records = kit.consume(90)
    # Each sale's partition is the one every Kafka client's default partitioner picks for its key.
    partitions = kit.settings.sales_topic_partitions
    assert all(r.partition == (murmur2(r.key) & 0x7FFFFFFF) % partitions for r in records)
    assert len({r.partition for r in records}) > 1
    events = kit.envelopes(records)
    assert len(events) == 90
    by_key: dict[str, list[int]] = defaultdict(list)
    for event in events:
        by_key[event["sale_id"]].append(event["version"])
    assert by_key == {sale_id: [1, 2, 3] for sale_id in ids}


def test_a_failure_mid_drain_leaves_the_failed_and_the_overlapping_batch_unmarked(kit) -> None:
    ids = _backlog(kit, 30)
    batches = itertools.count(1)

    async def fail_third(rows: list[OutboxRow]) -> None:
        if next(batches) == 3:
            raise Killed

    dying = kit.container.new_relay(batch_size=7, after_publish=fail_third)

    async def drain_and_close(relay) -> bool:
        try:
            return await relay.drain(budget_s=60)
        finally:
            await relay.close()

    with pytest.raises(Killed):
        asyncio.run(drain_and_close(dying))
    assert kit.unpublished() == 90 - 2 * 7, "batches 1 and 2 marked; 3 failed, 4 was in flight"

    while asyncio.run(drain_and_close(kit.container.new_relay(batch_size=7))):
        pass
    assert kit.unpublished() == 0
    events = kit.envelopes(kit.consume(90 + 2 * 7))
    seen = Counter((event["sale_id"], event["version"]) for event in events)
    assert len(seen) == 90
    assert sum(seen.values()) == 90 + 2 * 7
    assert all(seen[(sale_id, 1)] == 1 for sale_id in ids[:14]), "marked batches 1 and 2 are never sent again"
    # Batch 4 is claimed while batch 3 is confirmed: when 3 fails and releases its rows first,
    # the claim takes 3's rows again, so they go out three times (still never lost).
    assert max(seen.values()) <= 3


def test_a_relay_cancelled_anywhere_in_a_drain_leaves_no_connection_or_lock_behind(kit) -> None:
    """Shutdown cancels the relay at whatever step it is in; a claim that completes after the
    cancellation must still give its connection (and the row locks of its transaction) back."""
    engine = kit.container.engine

    async def cancel_after(delay_s: float) -> bool:
        relay = kit.container.new_relay(batch_size=3)
        task = asyncio.ensure_future(relay.drain(budget_s=60))
        await asyncio.sleep(delay_s)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True
        finally:
            await relay.close()
        return False

    cancelled = 0
    for delay_s in (0, 0.001, 0.003, 0.006, 0.01, 0.02, 0.04, 0.08):
        _backlog(kit, 10)
        cancelled += asyncio.run(cancel_after(delay_s))
        assert engine.pool.checkedout() == 0, f"a connection is still out after cancelling at {delay_s}s"
        with engine.connect() as connection:
            connection.begin()
            locked_out = kit.unpublished() - len(outbox.claim(connection, 1000))
        assert locked_out == 0, f"{locked_out} outbox rows still locked after cancelling at {delay_s}s"
    assert cancelled >= 4, "the drains ended before they could be cancelled: nothing was tested"


def test_a_relay_cancelled_before_its_confirmation_starts_releases_the_claim(kit) -> None:
    """The exact window of a shutdown seen in a test's teardown: a batch claimed and handed to the
    producer, its confirmation created as a task but not yet started, and the drain cancelled. A task
    cancelled before its first step never runs its body, so its own clean-up cannot be relied on."""
    engine = kit.container.engine
    _backlog(kit, 1)

    async def cancel_as_the_confirmation_is_created() -> None:
        relay = kit.container.new_relay()
        claim_and_send = relay._claim_and_send
        task: asyncio.Future[bool] | None = None

        async def claimed_then_cancelled():  # type: ignore[no-untyped-def]
            batch = await claim_and_send()
            asyncio.get_running_loop().call_soon(task.cancel)  # runs before the confirmation's first step
            return batch

        relay._claim_and_send = claimed_then_cancelled  # type: ignore[method-assign]
        task = asyncio.ensure_future(relay.drain(budget_s=60))
        try:
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            await relay.close()

    asyncio.run(cancel_as_the_confirmation_is_created())
    assert engine.pool.checkedout() == 0, "the claim's connection is still out"
    with engine.connect() as connection:
        connection.begin()
        assert len(outbox.claim(connection, 10)) == kit.unpublished() == 3, "claimed rows are still locked"


def test_an_idle_relay_always_stops_when_cancelled(kit) -> None:
    """The idle relay waits for a wake-up or its poll timeout; a cancellation that lands as the
    wait completes must still end it (with `asyncio.wait_for` on Python 3.11 it could be swallowed,
    and the server's shutdown then waited forever)."""

    async def start_and_cancel(relay, delay_s: float) -> bool:
        task = asyncio.ensure_future(relay.run())
        await asyncio.sleep(delay_s)
        relay._wakeup.set()  # the wait it is in completes in the same loop turn as the cancellation
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=5)
        return bool(done)

    async def many() -> list[bool]:
        relay = kit.container.new_relay(poll_interval_s=0.0005)
        return [await start_and_cancel(relay, 0.05 + i * 0.0003) for i in range(150)]

    stopped = asyncio.run(many())
    assert all(stopped), f"{stopped.count(False)} of {len(stopped)} cancellations were swallowed"


def test_a_claimed_row_carries_its_commit_time_and_only_claimed_rows_are_marked(kit) -> None:
    quiet = bootstrap(kit.settings.model_copy(update={"relay_enabled": False}))
    with TestClient(create_app(quiet)) as client:
        for _ in range(3):
            assert client.post("/sales", json=kit.body(), headers=kit.worker).status_code == 201
    with kit.container.engine.connect() as connection:
        connection.begin()
        claimed = outbox.claim(connection, 2)
        assert len(claimed) == 2
        for row in claimed:
            occurred = SaleEvent.from_bytes(row.payload).occurred_at
            assert row.created_us == round(occurred.timestamp() * 1_000_000)
        outbox.mark_published(connection, [row.id for row in claimed], datetime.now(UTC))
        connection.commit()
    assert kit.unpublished() == 1
