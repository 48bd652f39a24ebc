"""How far the copy is behind the topic, for the staff who watch replication."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter

from supply_common.contract import rfc3339
from supply_projector.entrypoints.deps import Offsets, Reader, Settings, Staff, only_known_params

router = APIRouter(tags=["freshness"])


@router.get("/freshness", dependencies=[only_known_params()])
async def freshness(reader: Reader, offsets: Offsets, settings: Settings, _: Staff) -> dict[str, Any]:
    """How far the copy is behind `sales.events`, per partition, plus DLQ and quarantine counts."""
    applied = await asyncio.to_thread(reader.freshness, settings.sales_topic)
    quarantined = await asyncio.to_thread(reader.quarantined)
    parked = await asyncio.to_thread(reader.parked)
    ends: dict[int, int] = {}
    committed: dict[int, int] = {}
    dlq: int | None = None
    kafka = "ok"
    try:
        ends = await asyncio.wait_for(offsets.end_offsets(settings.sales_topic), 5)
        committed = await asyncio.wait_for(offsets.committed(settings.sales_topic), 5)
        dlq = await asyncio.wait_for(offsets.record_count(settings.dlq_topic), 5)
    except (KafkaError, TimeoutError, OSError):
        kafka = "unreachable"
    partitions = []
    for partition in sorted(set(ends) | set(applied)):
        end = ends.get(partition)
        done = committed.get(partition)
        last = applied.get(partition, {}).get("last_occurred_at")
        partitions.append(
            {
                "partition": partition,
                "committed_offset": done,
                "end_offset": end,
                "lag": (end - (done or 0)) if end is not None else None,
                "last_occurred_at": rfc3339(last) if last is not None else None,
            }
        )
    return {"partitions": partitions, "dlq_count": dlq, "quarantined": quarantined, "parked": parked, "kafka": kafka}
