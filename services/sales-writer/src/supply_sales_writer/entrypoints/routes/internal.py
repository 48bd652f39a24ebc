"""Operator routes (never routed by the gateway): the digest drift control reads, republish, and
the outbox's state. Each needs a service credential carrying its own scope; a user's token is none."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from supply_common import tracing
from supply_common.contract import rfc3339
from supply_sales_writer.entrypoints.deps import ContainerDep, Digest, OutboxReader, Republish, Sales
from supply_sales_writer.entrypoints.http import ExactNumbersRoute, SaleIdPath
from supply_sales_writer.entrypoints.schemas import (
    DigestEntry,
    OutboxEventView,
    OutboxStatsView,
    RepublishRequest,
    RepublishResult,
    SaleJourneyView,
)

router = APIRouter(prefix="/internal", tags=["internal"], route_class=ExactNumbersRoute)


@router.get("/sales/digest", response_model=list[DigestEntry])
def digest(
    sales: Sales,
    _: Digest,
    after: Annotated[str | None, Query(pattern=r"^[0-9a-f]{24}$")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[dict[str, Any]]:
    """`[{id, version, hash}]` in id order after `after`, for drift control."""
    return sales.digest(after, limit)


@router.post("/sales/republish", response_model=RepublishResult)
def republish(body: RepublishRequest, sales: Sales, _: Republish) -> RepublishResult:
    """Re-emit the current state of sales through the outbox as repair events (versions unchanged)."""
    count, unknown = sales.republish(None if body.all else body.ids)
    return RepublishResult(republished=count, unknown=unknown)


@router.get("/outbox/stats", response_model=OutboxStatsView)
def outbox_stats(container: ContainerDep, _: OutboxReader) -> OutboxStatsView:
    """Unpublished backlog, the age of its oldest row, the relay's state and the last publish."""
    current = container.relay.stats()
    now = datetime.now(UTC)
    oldest = current.oldest_unpublished_at
    age = round((now - oldest).total_seconds(), 3) if oldest else None
    if container.settings.relay_enabled and (container.relay.publishing or container.relay.status() == "degraded"):
        relay = container.relay.status()
    else:
        # The relay is elsewhere: another process, or (this one on standby) another worker. The
        # backlog tells whether that one keeps up.
        relay = "degraded" if age is not None and age > 30 else "ok"
    last = current.last_published_at
    return OutboxStatsView(
        backlog=current.backlog,
        oldest_unpublished_age_s=age,
        relay=relay,
        last_published_at=rfc3339(last) if last else None,
    )


@router.get("/sales/{sale_id}/journey", response_model=SaleJourneyView)
def sale_journey(sale_id: SaleIdPath, container: ContainerDep, _: OutboxReader) -> SaleJourneyView:
    """Where each of a sale's changes is on its way out: committed (the outbox row's commit time),
    published (when, and at which partition and offset), with the trace it was made in."""
    outbox = container.relay.outbox
    events = outbox.events_of(sale_id)
    with container.service.uow().snapshot() as uow:
        version = uow.sales.current_version(sale_id)
        deleted = uow.sales.deleted_versions([sale_id]).get(sale_id)
    return SaleJourneyView(
        sale_id=sale_id,
        version=version,
        deleted_version=deleted,
        events=[
            OutboxEventView(
                outbox_id=e.outbox_id,
                event_type=e.event_type,
                version=e.version,
                repair=e.repair,
                committed_at=rfc3339(e.committed_at),
                published_at=rfc3339(e.published_at) if e.published_at else None,
                partition=e.partition,
                offset=e.offset,
                trace_id=tracing.trace_id_of(e.traceparent) if tracing.sampled(e.traceparent) else None,
            )
            for e in events
        ],
        outbox_retention_s=container.settings.outbox_retention_s,
    )
