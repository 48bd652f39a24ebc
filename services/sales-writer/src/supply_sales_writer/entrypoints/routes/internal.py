"""Operator routes (never routed by the gateway): the digest drift control reads, republish, and
the outbox's state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from supply_common.contract import rfc3339
from supply_sales_writer.entrypoints.deps import ContainerDep, Sales
from supply_sales_writer.entrypoints.http import ExactNumbersRoute
from supply_sales_writer.entrypoints.schemas import DigestEntry, OutboxStatsView, RepublishRequest, RepublishResult

router = APIRouter(prefix="/internal", tags=["internal"], route_class=ExactNumbersRoute)


@router.get("/sales/digest", response_model=list[DigestEntry])
def digest(
    sales: Sales,
    after: Annotated[str | None, Query(pattern=r"^[0-9a-f]{24}$")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[dict[str, Any]]:
    """`[{id, version, hash}]` in id order after `after`, for drift control."""
    return sales.digest(after, limit)


@router.post("/sales/republish", response_model=RepublishResult)
def republish(body: RepublishRequest, sales: Sales) -> RepublishResult:
    """Re-emit the current state of sales through the outbox as repair events (versions unchanged)."""
    count, unknown = sales.republish(None if body.all else body.ids)
    return RepublishResult(republished=count, unknown=unknown)


@router.get("/outbox/stats", response_model=OutboxStatsView)
def outbox_stats(container: ContainerDep) -> OutboxStatsView:
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
