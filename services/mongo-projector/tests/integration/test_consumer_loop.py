"""The consumer loop takes records while a batch is written, so the next batch is everything that came."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from supply_projector.adapters.mongo import MongoStore
from supply_projector.bootstrap import Container
from supply_projector.domain.changes import Op
from supply_projector.service_layer.ports import Executed

from .conftest import consuming, produce, versions_of, wait_for
from .events import history

pytestmark = pytest.mark.integration


async def test_records_arriving_during_a_write_all_go_into_the_next_batch(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two waves arrive while the first batch is being written. The client holds the first wave in
    its buffer and fetches nothing more until that is taken; a loop that took records only between
    writes would need two more batches. Taking them as they come needs one."""
    settings = container.settings
    events, final = history(30, 0)
    first, wave_a, wave_b = events[:10], events[10:20], events[20:]
    loop = asyncio.get_running_loop()
    written: list[int] = []
    execute = MongoStore.execute

    def slow_first_write(store: MongoStore, ops: Sequence[Op]) -> Executed:
        written.append(len(ops))
        if len(written) == 1:
            for wave in (wave_a, wave_b):
                asyncio.run_coroutine_threadsafe(produce(settings, wave), loop).result()
                time.sleep(1.0)  # ample time for a fetch to bring the wave in
        return execute(store, ops)

    monkeypatch.setattr(MongoStore, "execute", slow_first_write)  # each batch writes through a store of its own
    await produce(settings, first)
    async with consuming(container):
        await wait_for(lambda: versions_of(container) == final, what="all 30 sales")
    assert sum(written) == 30
    assert len(written) == 2, written
