"""Progress is recorded after its batch, off the batch path: coalesced, never backwards, retried."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from supply_projector.service_layer.ports import Progress
from supply_projector.service_layer.progress import ProgressRecorder

from .conftest import MemoryStore

AT = datetime(2024, 1, 1, tzinfo=UTC)


def at(partition: int, offset: int) -> Progress:
    return Progress("t", partition, offset, AT)


class CountingStore(MemoryStore):
    def __init__(self, failures: int = 0) -> None:
        super().__init__()
        self.writes: list[list[Progress]] = []
        self.failures = failures

    def record_progress(self, progress: Sequence[Progress]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("store away")
        self.writes.append(list(progress))
        super().record_progress(progress)


async def test_batches_arriving_during_a_write_share_the_next_write() -> None:
    store = CountingStore()
    recorder = ProgressRecorder(store, interval_s=0.05)
    recorder.add([at(0, 1)])
    await asyncio.sleep(0.01)
    for offset in range(2, 12):
        recorder.add([at(0, offset), at(1, offset * 10)])
        await asyncio.sleep(0)
    await recorder.close()
    assert [[item.offset for item in write] for write in store.writes] == [[1], [11, 110]]


async def test_an_older_position_never_replaces_a_newer_one() -> None:
    store = CountingStore()
    recorder = ProgressRecorder(store, interval_s=0.05)
    recorder.add([at(0, 9)])
    recorder.add([at(0, 4)])
    await recorder.close()
    assert store.progress[("t", 0)].offset == 9


async def test_a_failed_write_is_retried_with_what_came_since() -> None:
    store = CountingStore(failures=1)
    recorder = ProgressRecorder(store, interval_s=0.01, retry_after_s=0.05)
    recorder.add([at(0, 3)])
    await asyncio.sleep(0.02)
    recorder.add([at(1, 5)])
    await recorder.close()
    assert {key: item.offset for key, item in store.progress.items()} == {("t", 0): 3, ("t", 1): 5}


async def test_close_gives_up_on_a_store_that_stays_away() -> None:
    store = CountingStore(failures=10**6)
    recorder = ProgressRecorder(store, interval_s=0.01, retry_after_s=0.01)
    recorder.add([at(0, 3)])
    async with asyncio.timeout(5):
        await recorder.close(timeout_s=0.2)
    assert store.progress == {}


async def test_nothing_added_nothing_written() -> None:
    store = CountingStore()
    recorder = ProgressRecorder(store, interval_s=0.0)
    recorder.add([])
    await recorder.close()
    assert store.writes == []


async def test_a_position_without_a_date_keeps_the_date_already_held() -> None:
    """A partition whose only record in a batch was poison has no `last_occurred_at`: the
    watermark must stay, in the pending write and in the store, not become null."""
    store = CountingStore()
    recorder = ProgressRecorder(store, interval_s=0.05)
    recorder.add([at(0, 1)])
    await asyncio.sleep(0.01)
    recorder.add([Progress("t", 0, 2, AT + timedelta(seconds=1))])
    recorder.add([Progress("t", 0, 3, None)])
    await recorder.close()
    assert [(w.offset, w.last_occurred_at) for write in store.writes for w in write] == [
        (1, AT),
        (3, AT + timedelta(seconds=1)),
    ]
    recorder.add([Progress("t", 0, 4, None), Progress("t", 1, 1, None)])
    await recorder.close()
    assert store.progress[("t", 0)] == Progress("t", 0, 4, AT + timedelta(seconds=1))
    assert store.progress[("t", 1)].last_occurred_at is None
