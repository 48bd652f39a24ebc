"""What operators act on: the consumer group's members, the newest dead letters, and the repair of
one sale (the same path as `mongo-projector reconcile --repair`, for one id)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, Query, Request

from supply_common.callers import bearer_token, require_scope
from supply_common.problems import ProblemError
from supply_common.tokens import ServiceCaller
from supply_projector.adapters.copy_reader import MongoCopy
from supply_projector.adapters.mongo import TOMBSTONES
from supply_projector.adapters.writer_client import WriterClient
from supply_projector.bootstrap import Container
from supply_projector.domain.rollups import day_bucket
from supply_projector.entrypoints.deps import Offsets, SaleId, Settings, Staff, get_container
from supply_projector.service_layer import reconcile as drift
from supply_projector.service_layer import rollup_checks

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)

KAFKA_WAIT_S = 5.0
Repairer = Annotated[ServiceCaller, Depends(require_scope("copy:repair"))]


def _kafka_down(exc: BaseException) -> ProblemError:
    return ProblemError(503, "Kafka unavailable", f"Kafka did not answer ({type(exc).__name__}).")


@router.get("/consumers")
async def consumers(offsets: Offsets, settings: Settings, _: Staff) -> dict[str, Any]:
    """The consumer group's members (client id, host) with the partitions of `sales.events` each
    holds and each partition's lag; `unassigned` lists partitions nobody holds (a group rebalancing,
    or no consumer running)."""
    topic = settings.sales_topic
    try:
        group = await asyncio.wait_for(offsets.group(topic), KAFKA_WAIT_S)
        ends = await asyncio.wait_for(offsets.end_offsets(topic), KAFKA_WAIT_S)
        committed = await asyncio.wait_for(offsets.committed(topic), KAFKA_WAIT_S)
    except (KafkaError, TimeoutError, OSError) as exc:
        raise _kafka_down(exc) from exc

    def lag(partition: int) -> int | None:
        end = ends.get(partition)
        return None if end is None else end - committed.get(partition, 0)

    held = {p for member in group.members for p in member.partitions}
    return {
        "group": settings.consumer_group,
        "state": group.state,
        "members": [
            {
                "client_id": member.client_id,
                "host": member.host,
                "member_id": member.member_id,
                "partitions": [{"partition": p, "lag": lag(p)} for p in member.partitions],
                "lag": sum(lag(p) or 0 for p in member.partitions),
            }
            for member in sorted(group.members, key=lambda m: (min(m.partitions, default=1 << 31), m.client_id))
        ],
        "unassigned": [{"partition": p, "lag": lag(p)} for p in sorted(set(ends) - held)],
    }


@router.get("/dead-letters")
async def dead_letters(
    offsets: Offsets, settings: Settings, _: Staff, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> dict[str, Any]:
    """The newest records of the DLQ topic, newest first: where each lies (partition, offset), its key
    (the sale id, when it had one), when it was dead-lettered, and the headers that say why."""
    try:
        letters = await asyncio.wait_for(offsets.newest(settings.dlq_topic, limit), 3 * KAFKA_WAIT_S)
        count = await asyncio.wait_for(offsets.record_count(settings.dlq_topic), KAFKA_WAIT_S)
    except (KafkaError, TimeoutError, OSError) as exc:
        raise _kafka_down(exc) from exc
    return {
        "topic": settings.dlq_topic,
        "count": count,
        "items": [
            {
                "partition": letter.partition,
                "offset": letter.offset,
                "key": letter.key,
                "at": datetime.fromtimestamp(letter.timestamp_ms / 1000, UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "headers": letter.headers,
            }
            for letter in letters
        ],
    }


CHANGED_OUTSIDE = ("missing", "corrupted", "stray")
"""What a copy changed outside the projector looks like (a document lost, edited or planted by hand,
or kept past a restore of MySQL): the rollups count what the projector applied, and the repair event
moves them from what the copy holds, so the sale's days are counted again once it is applied."""
REPAIR_APPLIED_WAIT_S = 5.0


def _recount_its_days(
    container: Container, writer: WriterClient, copy: MongoCopy, sale_id: str, before: dict[str, Any] | None
) -> None:
    if drift.await_applied(writer, copy, [sale_id], timeout_s=REPAIR_APPLIED_WAIT_S):
        log.warning("repair not applied in time; its rollups are left to reconcile", extra={"sale_id": sale_id})
        return
    after = container.store.documents([sale_id]).get(sale_id)
    days = {day_bucket(document["saleDate"]) for document in (before, after) if document is not None}
    replaced, moved = rollup_checks.recount(container.store.pinned().rollups(), days)
    log.info(
        "rollups recounted", extra={"sale_id": sale_id, "days": sorted(days), "replaced": replaced, "moved": moved}
    )


@router.post("/internal/sales/{sale_id}/repair")
def repair_sale(sale_id: SaleId, request: Request, settings: Settings, caller: Repairer) -> dict[str, Any]:
    """Compare one sale with MySQL (the sales-writer's digest) and repair it as `reconcile --repair`
    does: republish what MySQL holds (rewinding a copy ahead of it first), or delete it from the
    copy when MySQL has no such sale; a quarantined sale is republished even when the copy matches,
    which lifts its quarantine (`found`: `quarantined`). A sale found missing, corrupted or stray
    also has its days' analytics buckets counted again from the copy once the repair is applied
    (waited for a few seconds). The sales-writer is called with the caller's own credential,
    which must also carry `sales:digest` and `sales:republish`."""
    container: Container = get_container(request)
    credential = bearer_token(request.headers) or ""
    copy = MongoCopy(container.database[container.active.name()], container.database[TOMBSTONES])
    with WriterClient(settings.sales_writer_url, credential=lambda: credential, attempts=2) as writer:
        try:
            quarantined = sale_id in container.store.quarantined([sale_id])
            before = container.store.documents([sale_id]).get(sale_id)
            kind, done = drift.repair_sale(writer, copy, sale_id, quarantined=quarantined)
            if kind in CHANGED_OUTSIDE:
                _recount_its_days(container, writer, copy, sale_id, before)
        except httpx.HTTPError as exc:
            raise ProblemError(502, "Sales-writer unavailable", f"The sales-writer refused or failed ({exc}).") from exc
    log.info(
        "sale repaired",
        extra={"event": "sale.repair", "sale_id": sale_id, "found": kind, "caller": caller.subject},
    )
    return {
        "sale_id": sale_id,
        "found": kind,
        "republished": done.republished,
        "strays_deleted": done.strays_deleted,
        "rewound": done.rewound,
    }
