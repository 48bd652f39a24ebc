"""The envelope of each change, built from the shared contract."""

from __future__ import annotations

from datetime import datetime

from supply_common.contract import Actor, EventType, Sale, SaleEvent


def change_event(
    event_type: EventType,
    sale_id: str,
    version: int,
    occurred_at: datetime,
    sale: Sale | None,
    actor: Actor | None = None,
    *,
    repair: bool = False,
) -> SaleEvent:
    return SaleEvent.for_change(
        event_type=event_type,
        sale_id=sale_id,
        version=version,
        occurred_at=occurred_at,
        sale=sale if event_type != "sale.deleted" else None,
        actor=actor,
        repair=repair,
    )
