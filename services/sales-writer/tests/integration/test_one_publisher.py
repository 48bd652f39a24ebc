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
from sqlalchemy import select

from supply_common.contract import Actor, SaleBody
from supply_sales_writer.adapters.schema import outbox

pytestmark = pytest.mark.integration

ACTOR = Actor(user_id="worker-1", role="technical_worker")


def _sales(kit, count: int) -> list[str]:
    body = SaleBody.model_validate(kit.body())
    return [kit.system.service.create(body, ACTOR).view["id"] for _ in range(count)]


def _keep_changing(kit, ids: list[str], rounds: int, stop: threading.Event | None = None) -> threading.Thread:
    """A thread updating each sale `rounds` times, sale after sale (many versions each, interleaved)."""
    service = kit.system.service
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
    with kit.system.engine.connect() as connection:
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
        relays = [kit.system.new_relay(batch_size=3, poll_interval_s=0.005, min_cycle_s=0) for _ in range(2)]
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
