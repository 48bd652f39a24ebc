"""When a batch's offsets are committed: never before its writes, and while the next batch is written."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence

import pytest
from aiokafka import TopicPartition

from supply_projector.adapters.kafka import KafkaDeadLetters, make_consumer, topic_partitions
from supply_projector.bootstrap import Container
from supply_projector.entrypoints.consumer import ConsumerLoop
from supply_projector.service_layer.ports import Record
from supply_projector.service_layer.projector import BatchResult, Projector

from .conftest import consuming, produce, versions_of, wait_for
from .events import history

pytestmark = pytest.mark.integration

WRITE_S = 0.15
"""How long each batch's write is made to last, so that a commit can be seen overlapping one."""


@dataclasses.dataclass(frozen=True)
class Span:
    started: float
    ended: float
    offsets: dict[int, int]
    """partition -> the highest offset written (for a write) or the next offset to read (a commit)."""


class SlowProjector(Projector):
    def __init__(self, container: Container, dead_letters: KafkaDeadLetters | None, writes: list[Span]) -> None:
        super().__init__(container.store, dead_letters)
        self.writes = writes

    async def apply(self, records: Sequence[Record]) -> BatchResult:
        started = time.monotonic()
        result = await super().apply(records)
        await asyncio.sleep(WRITE_S)
        highest: dict[int, int] = {}
        for record in records:
            highest[record.partition] = max(highest.get(record.partition, -1), record.offset)
        self.writes.append(Span(started, time.monotonic(), highest))
        return result


@dataclasses.dataclass
class SlowContainer(Container):
    writes: list[Span] = dataclasses.field(default_factory=list)

    def projector(self, dead_letters: KafkaDeadLetters | None) -> Projector:
        return SlowProjector(self, dead_letters, self.writes)


def _record_commits(loop: ConsumerLoop, commits: list[Span]) -> None:
    original = loop.commit_pending

    async def recorded() -> None:
        offsets = {tp.partition: offset for tp, offset in loop.pending.items()}
        started = time.monotonic()
        await original()
        if offsets:
            commits.append(Span(started, time.monotonic(), offsets))

    loop.commit_pending = recorded  # type: ignore[method-assign]


async def test_offsets_are_committed_after_their_writes_and_while_the_next_batch_is_written(
    container: Container,
) -> None:
    settings = container.settings.model_copy(update={"batch_max_records": 8, "poll_timeout_ms": 100})
    slow = SlowContainer(**{**container.__dict__, "settings": settings})
    events, final = history(64, 0)
    await produce(settings, events)
    commits: list[Span] = []
    async with consuming(slow) as loop:
        _record_commits(loop, commits)
        await wait_for(lambda: versions_of(container) == final, what="all sales")
        await wait_for(lambda: not loop.pending, what="the last commit")
    for commit in commits:
        for partition, offset in commit.offsets.items():
            done = [w.offsets[partition] for w in slow.writes if w.ended <= commit.started and partition in w.offsets]
            assert done, f"offset {offset} of partition {partition} committed before any write of it"
            assert max(done) + 1 >= offset, f"partition {partition}: committed {offset}, written up to {max(done)}"
    overlapping = [c for c in commits if any(w.started < c.ended and c.started < w.ended for w in slow.writes)]
    assert overlapping, "every commit waited for the next batch's write (or held it back)"
    committed = {tp.partition: offset for tp, offset in (await _committed(loop, settings.sales_topic)).items()}
    written = {partition for write in slow.writes for partition in write.offsets}
    ends = {partition: max(w.offsets.get(partition, -1) for w in slow.writes) + 1 for partition in written}
    assert written, "no batch was written"
    assert committed == ends


async def _committed(loop: ConsumerLoop, topic: str) -> dict[TopicPartition, int]:
    """What the group has committed, read after the loop stopped (through a fresh consumer of the group)."""
    consumer = make_consumer(loop.settings, loop.settings.consumer_group)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await topic_partitions(consumer, topic)]
        found = {tp: await consumer.committed(tp) for tp in partitions}
    finally:
        await consumer.stop()
    return {tp: offset for tp, offset in found.items() if offset is not None}
