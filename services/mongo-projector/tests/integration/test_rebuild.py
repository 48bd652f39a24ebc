"""Rebuild from offset 0 yields an identical copy while the read API keeps answering."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from supply_projector.adapters.kafka import KafkaOffsets
from supply_projector.bootstrap import Container
from supply_projector.entrypoints.app import create_app
from supply_projector.entrypoints.rebuild import rebuild

from .conftest import consuming, produce, sales_of, versions_of, wait_for
from .events import SAMPLES, history, sale_event

pytestmark = pytest.mark.integration
STAFF = {"X-User-Id": "t", "X-User-Role": "technical_worker", "X-User-Email": "t@example.com"}


async def test_rebuild_is_identical_and_reads_never_stop(container: Container) -> None:
    settings = container.settings
    events, final = history(150, 150, seed=21)
    deleted = SAMPLES[3]
    events += [sale_event(deleted, 1, "create"), sale_event(deleted, 2, "delete")]
    await produce(settings, events)
    app = create_app(container)
    app.state.offsets = KafkaOffsets(settings, settings.consumer_group)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://projector")
    probe_id = next(iter(final))
    statuses: list[int] = []
    done = asyncio.Event()

    async def read_all_the_time() -> None:
        while not done.is_set():
            one = await client.get(f"/sales/{probe_id}", headers=STAFF)
            page = await client.get("/sales", params={"limit": 5}, headers=STAFF)
            statuses.extend([one.status_code, page.status_code if page.json()["items"] else 0])
            await asyncio.sleep(0.02)

    async with consuming(container):
        await wait_for(lambda: versions_of(container) == final, what="the live copy")
        before = sales_of(container)
        previous = container.active.name()
        reader = asyncio.create_task(read_all_the_time())
        result = await rebuild(settings, grace_s=1.5)
        late = history(5, 0, seed=22)[0]
        await produce(settings, late)
        await wait_for(lambda: len(versions_of(container)) == len(final) + 5, what="live writes after the swap")
        done.set()
        await reader

    await app.state.offsets.close()
    assert result.events == len(events)
    assert result.collection != previous or result.swapped_by == "rename"
    assert container.active.name() == result.collection
    after = sales_of(container)
    for sale in late:
        after.pop(sale.sale_id)
    assert after == before
    assert deleted.id not in after
    assert statuses
    assert set(statuses) == {200}
