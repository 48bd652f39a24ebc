"""Several relays over one outbox: one publishes, the others stand by and take over when it goes.

The topic is a compacted changelog: compaction keeps each sale's last record, and a consumer that
rebuilds from offset 0 ends with it. Two relays publishing at once could put a sale's older version
after its newer one (each claims its own rows, either may be acknowledged first), and the rebuilt
copy would then hold the stale version."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from supply_common.contract import Actor, SaleBody
from supply_sales_writer.adapters.publish_lock import PublishLock
from supply_sales_writer.adapters.schema import outbox
from supply_sales_writer.entrypoints.app import create_app

pytestmark = pytest.mark.integration

ACTOR = Actor(user_id="worker-1", role="technical_worker")


def _sales(kit, count: int) -> list[str]:
    body = SaleBody.model_validate(kit.body())
    return [kit.container.service.create(body, ACTOR).view["id"] for _ in range(count)]


def _keep_changing(kit, ids: list[str], rounds: int, stop: threading.Event | None = None) -> threading.Thread:
    """A thread updating each sale `rounds` times, sale after sale (many versions each, interleaved)."""
    service = kit.container.service
    bodies = [SaleBody.model_validate(kit.body(couponUsed=flag)) for flag in (False, True)]

    def change() -> None:
        versions = dict.fromkeys(ids, 1)
        for round_ in range(rounds):
            if stop is not None and stop.is_set():
                return
            for sale_id in ids:
                service.update(sale_id, bodies[round_ % 2], frozenset({versions[sale_id]}), ACTOR)
                versions[sale_id] += 1

    thread = threading.Thread(target=change)
    thread.start()
    return thread


def _outbox_versions(kit) -> dict[str, list[int]]:
    """Per sale, the versions of its outbox rows in id order."""
    with kit.container.engine.connect() as connection:
        rows = connection.execute(select(outbox.c.msg_key, outbox.c.payload).order_by(outbox.c.id)).all()
    versions: dict[str, list[int]] = defaultdict(list)
    for key, payload in rows:
        versions[key.decode()].append(json.loads(payload)["version"])
    return versions


def _topic_versions(kit, expected: int) -> dict[str, list[int]]:
    """Per sale, the versions on the topic in offset order (a sale's events share one partition)."""
    records = sorted(kit.consume(expected, timeout_s=30), key=lambda record: (record.partition, record.offset))
    versions: dict[str, list[int]] = defaultdict(list)
    for record in records:
        versions[record.key.decode()].append(json.loads(record.value)["version"])
    return versions


def _inversions(versions: dict[str, list[int]]) -> list[tuple[str, int, int]]:
    """(sale, version, the older one that came after it) wherever a version went down."""
    found = []
    for sale_id, sequence in versions.items():
        highest = 0
        for version in sequence:
            if version < highest:
                found.append((sale_id, highest, version))
            highest = max(highest, version)
    return found


async def _stop(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _until(condition, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(condition):
            return True
        await asyncio.sleep(0.05)
    return bool(await asyncio.to_thread(condition))


def test_two_relays_while_writes_come_never_put_an_older_version_after_a_newer_one(kit) -> None:
    # Small batches, each holding a version of every sale, and a backlog when the relays start: two
    # publishers then inverted some sale's versions in every run (17 to 32 times in 300 rows).
    ids = _sales(kit, 3)
    rounds = 150

    async def both() -> None:
        writer = _keep_changing(kit, ids, rounds)
        await _until(lambda: kit.unpublished() >= 200, 20)
        relays = [kit.container.new_relay(batch_size=3, poll_interval_s=0.005, min_cycle_s=0) for _ in range(2)]
        tasks = [asyncio.create_task(relay.run()) for relay in relays]
        try:
            await asyncio.to_thread(writer.join)
            assert await _until(lambda: kit.unpublished() == 0, 20), "the outbox was not drained"
        finally:
            await _stop(*tasks)

    asyncio.run(both())
    expected = {sale_id: list(range(1, rounds + 2)) for sale_id in ids}
    assert _outbox_versions(kit) == expected
    published = _topic_versions(kit, len(ids) * (rounds + 1))
    assert _inversions(published) == []
    # One publisher: the topic holds each sale's outbox rows in id order, each once.
    assert published == expected


def _first_appearances(versions: dict[str, list[int]]) -> dict[str, list[int]]:
    """Each sale's versions without repeats of one already seen (a batch published again because its
    publisher stopped between the ack and the mark)."""
    return {sale_id: list(dict.fromkeys(sequence)) for sale_id, sequence in versions.items()}


async def _until_woken(relay, condition, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    """Wait for `condition`, waking `relay` meanwhile as the commit notices of a server would."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        relay.wake()
        await asyncio.sleep(0.02)
    return bool(condition())


def _lock_holder(kit, name: str) -> int | None:
    with kit.container.engine.connect() as connection:
        return connection.exec_driver_sql("SELECT IS_USED_LOCK(%(name)s)", {"name": name}).scalar()


@pytest.mark.parametrize("how", ["stopped", "lock connection killed"])
def test_when_the_publishing_relay_goes_the_standby_takes_over_and_publishes_the_rest(kit, how: str) -> None:
    ids = _sales(kit, 3)
    stop = threading.Event()

    async def main() -> float:
        relays = [kit.container.new_relay(batch_size=3, poll_interval_s=0.01, min_cycle_s=0) for _ in range(2)]
        tasks = [asyncio.create_task(relay.run()) for relay in relays]
        writer = _keep_changing(kit, ids, 100_000, stop)
        try:
            assert await _until(lambda: any(relay.publishing for relay in relays), 5)
            await asyncio.sleep(0.5)  # publishing while the writes come
            active, standby = sorted(relays, key=lambda relay: not relay.publishing)
            assert [relay.publishing for relay in (active, standby)] == [True, False], "two relays published at once"
            assert _lock_holder(kit, active.lock.name) == active.lock.connection_id
            went = active.lock.connection_id
            started = time.monotonic()
            if how == "stopped":
                tasks[relays.index(active)].cancel()
            else:
                await asyncio.to_thread(kit.execute, f"KILL {went}")
            assert await _until_woken(standby, lambda: standby.publishing, 5), "the standby did not take over"
            took_over_s = time.monotonic() - started
            assert await _until(lambda: not active.publishing, 5), "the relay that went still claims"
            assert _lock_holder(kit, active.lock.name) == standby.lock.connection_id != went
            await asyncio.sleep(0.5)  # the writes go on, published by the successor alone
            assert not active.publishing
            stop.set()
            await asyncio.to_thread(writer.join)
            assert await _until(lambda: kit.unpublished() == 0, 20), "the outbox was not drained"
            assert [relay.publishing for relay in (active, standby)] == [False, True]
            return took_over_s
        finally:
            stop.set()
            await _stop(*tasks)

    took_over_s = asyncio.run(main())
    assert took_over_s < 3
    written = _outbox_versions(kit)
    assert all(len(versions) > 10 for versions in written.values()), "too few writes to test anything"
    published = _topic_versions(kit, sum(map(len, written.values())))
    # Every row published (and marked), per sale in outbox order; the last record of each sale, the
    # one compaction keeps, is its newest version.
    assert _first_appearances(published) == written
    assert {sale_id: versions[-1] for sale_id, versions in published.items()} == {
        sale_id: versions[-1] for sale_id, versions in written.items()
    }


def test_a_relay_on_standby_claims_nothing_while_another_publishes(kit) -> None:
    _sales(kit, 10)
    held, go_on = threading.Event(), asyncio.Event()
    standby_published: list[int] = []

    async def hold_first_batch(rows: list) -> None:  # type: ignore[type-arg]
        if not held.is_set():
            held.set()
            await go_on.wait()

    async def record(rows: list) -> None:  # type: ignore[type-arg]
        standby_published.extend(row.id for row in rows)

    async def main() -> None:
        active = kit.container.new_relay(batch_size=2, after_publish=hold_first_batch)
        standby = kit.container.new_relay(batch_size=2, poll_interval_s=0.01, after_publish=record)
        first = asyncio.create_task(active.run())
        second: asyncio.Task[None] | None = None
        try:
            assert await _until(held.is_set, 10)
            second = asyncio.create_task(standby.run())
            # Two retries of its own and a stream of commit notices: still nothing to claim.
            assert not await _until_woken(standby, lambda: bool(standby_published), 2.5)
            assert kit.unpublished() == 10, "the standby claimed rows"
            assert [relay.publishing for relay in (active, standby)] == [True, False]
            assert standby.status() == "ok"
            go_on.set()
            assert await _until(lambda: kit.unpublished() == 0, 10)
        finally:
            go_on.set()
            await _stop(first, *([second] if second else []))

    asyncio.run(main())
    assert standby_published == []
    assert len(kit.consume(10)) == 10


def test_a_server_whose_relay_stands_by_reports_the_backlog_and_publishes_once_the_lock_is_free(kit) -> None:
    """With `WORKERS=N` each server process runs a relay and one of them publishes: a process whose
    relay stands by answers for the backlog (as one without a relay), not "degraded"."""
    holder = PublishLock(kit.container.engine)
    assert holder.acquire()
    try:
        with TestClient(create_app(kit.container)) as client:
            sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
            time.sleep(1.5)  # a retry of the relay, and the commit's notice
            stats = client.get("/internal/outbox/stats").json()
            assert stats["backlog"] == 1, "published without the publish lock"
            assert stats["relay"] == "ok"
            assert client.get("/readyz").json()["checks"]["relay"] == "ok"
            assert not kit.container.relay.publishing
            assert "sales_writer_relay_publishing" in client.get("/metrics").text
            # The publisher (the test here) stalls: a minute-old backlog, whoever should publish it.
            kit.execute("UPDATE outbox SET created_at = created_at - INTERVAL 1 MINUTE")
            assert client.get("/internal/outbox/stats").json()["relay"] == "degraded"
            holder.release()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and client.get("/internal/outbox/stats").json()["backlog"]:
                time.sleep(0.05)
            assert client.get("/internal/outbox/stats").json() | {"last_published_at": None} == {
                "backlog": 0,
                "oldest_unpublished_age_s": None,
                "relay": "ok",
                "last_published_at": None,
            }
            assert kit.container.relay.publishing
    finally:
        holder.release()
    assert [event["sale_id"] for event in kit.envelopes(kit.consume(1))] == [sale_id]
