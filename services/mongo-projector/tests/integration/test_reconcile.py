"""Drift control against the real copy and topic: a copy ahead of MySQL (restored from a backup)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from supply_common.contract import Sale, sale_hash
from supply_projector.adapters.copy_reader import MongoCopy
from supply_projector.adapters.mongo import TOMBSTONES
from supply_projector.bootstrap import Container
from supply_projector.config import ProjectorSettings
from supply_projector.service_layer.reconcile import Entry, reconcile, repair

from .conftest import consuming, produce, versions_of, wait_for
from .events import SAMPLES, changed, sale_event

pytestmark = pytest.mark.integration


class RestoredWriter:
    """The sales-writer's digest and republish over a MySQL restored from a backup: its rows are
    given here, and a republish sends repair events (MySQL's version, `repair: true`) to the topic."""

    def __init__(self, settings: ProjectorSettings, rows: dict[str, tuple[Sale, int]]) -> None:
        self.settings = settings
        self.rows = rows
        self.loop = asyncio.get_running_loop()

    def digest(self, after: str | None, limit: int) -> list[Entry]:
        ids = sorted(i for i in self.rows if after is None or i > after)[:limit]
        return [Entry(i, self.rows[i][1], sale_hash(self.rows[i][0])) for i in ids]

    def republish(self, ids: Sequence[str]) -> int:
        events = [sale_event(self.rows[i][0], self.rows[i][1], repair=True) for i in ids]
        asyncio.run_coroutine_threadsafe(produce(self.settings, events), self.loop).result()
        return len(events)


async def test_a_copy_ahead_of_mysql_is_reported_and_repair_makes_it_converge(container: Container) -> None:
    settings = container.settings
    updated, deleted, same = SAMPLES[0], SAMPLES[1], SAMPLES[2]
    await produce(
        settings,
        [
            sale_event(updated, 1, "create"),
            sale_event(changed(updated, 2), 2),
            sale_event(changed(updated, 3), 3),
            sale_event(deleted, 1, "create"),
            sale_event(deleted, 2, "delete"),
            sale_event(same, 1, "create"),
        ],
    )
    # MySQL came back from a backup taken when `updated` and `deleted` were at version 1.
    writer = RestoredWriter(settings, {sale.id: (sale, 1) for sale in (updated, deleted, same)})
    copy = MongoCopy(container.database[container.active.name()], container.database[TOMBSTONES])
    async with consuming(container):
        await wait_for(lambda: versions_of(container) == {updated.id: 3, same.id: 1}, what="the copy")
        await wait_for(lambda: container.reader.deleted_version(deleted.id) == 2, what="the tombstone")

        findings = await asyncio.to_thread(reconcile, writer, copy)
        assert findings.counts() == {"missing": 0, "stale": 0, "corrupted": 0, "ahead": 2, "stray": 0}
        assert findings.ahead == sorted([updated.id, deleted.id])

        done = await asyncio.to_thread(repair, writer, copy, findings)
        assert (done.republished, done.rewound) == (2, 2)

        async def converged() -> bool:
            return (await asyncio.to_thread(reconcile, writer, copy)).total == 0

        for _ in range(100):
            if await converged():
                break
            await asyncio.sleep(0.2)
        assert await converged(), "the copy did not converge on MySQL"
        assert versions_of(container) == {updated.id: 1, deleted.id: 1, same.id: 1}

        # MySQL's next change of the sale carries version 2 again, and the copy takes it.
        await produce(settings, [sale_event(changed(updated, 2), 2)])
        await wait_for(lambda: versions_of(container)[updated.id] == 2, what="MySQL's next version")
