"""Rebuild the copy from offset 0 into a fresh collection, then swap it in while readers keep going.

The swap is `renameCollection(dropTarget)` over `sales` where the server has it (MongoDB). FerretDB
v1 lacks `dropTarget`, so there the alias document that readers and the live consumers follow is
pointed at the new collection instead, and the old one is dropped after a grace period. Either
way a last pass replays what arrived meanwhile into the new collection (writes are version
guarded, so a replay changes nothing already applied).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo.errors import OperationFailure

from supply_common.kafka import ensure_topics
from supply_projector.adapters.kafka import make_consumer, to_record
from supply_projector.adapters.mongo import SALES, ensure_sale_indexes, is_not_implemented
from supply_projector.bootstrap import Projection, bootstrap
from supply_projector.config import ProjectorSettings

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]


@dataclass
class RebuildResult:
    collection: str
    previous: str
    swapped_by: str
    events: int
    documents: int


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    """The topic's partition numbers, fetching its metadata if the client has none yet."""
    for _ in range(20):
        found = consumer.partitions_for_topic(topic)
        if found:
            return sorted(found)
        await consumer._client.add_topic(topic)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    return []


async def _drain(
    consumer: AIOKafkaConsumer,
    projection: Projection,
    ends: dict[TopicPartition, int],
    progress: ProgressCallback | None,
    total: int,
    done: int,
) -> int:
    projector = projection.projector(None)
    remaining = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=projection.settings.batch_max_records)
        records = [to_record(m) for tp in sorted(batches) for m in batches[tp] if m.offset < ends[tp]]
        if records:
            await projector.apply(records)
            done += len(records)
            if progress:
                progress(done, total)
        for tp in list(remaining):
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
    return done


async def rebuild(
    settings: ProjectorSettings,
    *,
    progress: ProgressCallback | None = None,
    grace_s: float | None = None,
    now: datetime | None = None,
) -> RebuildResult:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S%f")
    target = f"sales_rebuild_{stamp}"
    await ensure_topics(settings)
    live = bootstrap(settings)
    projection = bootstrap(settings, collection=target)
    previous = await asyncio.to_thread(live.active.name)
    consumer = make_consumer(settings, f"{settings.consumer_group}-rebuild-{stamp}")
    await consumer.start()
    try:
        numbers = await topic_partitions(consumer, settings.sales_topic)
        if not numbers:
            raise RuntimeError(f"topic {settings.sales_topic} has no partitions")
        partitions = [TopicPartition(settings.sales_topic, p) for p in numbers]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = {tp: int(o) for tp, o in (await consumer.end_offsets(partitions)).items()}
        total = sum(ends[tp] - int(starts[tp]) for tp in partitions)
        if progress:
            progress(0, total)
        done = await _drain(consumer, projection, ends, progress, total, 0)
        await asyncio.to_thread(ensure_sale_indexes, projection.database, target)

        swapped_by = "rename"
        try:
            await asyncio.to_thread(
                projection.client.admin.command,
                "renameCollection",
                f"{settings.mongo_database}.{target}",
                to=f"{settings.mongo_database}.{SALES}",
                dropTarget=True,
            )
            active = SALES
        except OperationFailure as exc:
            if not is_not_implemented(exc):
                raise
            swapped_by = "alias"
            active = target
        await asyncio.to_thread(live.active.point_to, active)
        wait = grace_s if grace_s is not None else settings.active_cache_s + 2.0
        await asyncio.sleep(wait)
        caught_up = bootstrap(settings, collection=active)
        ends = {tp: int(o) for tp, o in (await consumer.end_offsets(partitions)).items()}
        total = done
        for tp in partitions:
            total += max(ends[tp] - await consumer.position(tp), 0)
        done = await _drain(consumer, caught_up, ends, progress, total, done)
        await consumer.commit()
        if swapped_by == "alias" and previous != active:
            await asyncio.to_thread(live.database.drop_collection, previous)
        documents = await asyncio.to_thread(caught_up.database[active].count_documents, {})
        caught_up.close()
        log.info("rebuild swapped in", extra={"collection": active, "events": done, "documents": documents})
        return RebuildResult(active, previous, swapped_by, done, documents)
    finally:
        await consumer.stop()
        projection.close()
        live.close()
