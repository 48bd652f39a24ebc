"""The envelope of each change, encoded by the shared contract as the outbox stores it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from supply_common.contract import Actor, EventType, encode_change


class EncodedEvent(NamedTuple):
    """One change as the outbox stores it: the record's key (the sale id), its value (the envelope's
    JSON) and the commit time; with what the sale's history records of it (its version, kind and
    who made it), and the W3C `traceparent` of the request that made it (None when it was not
    traced; the outbox then takes the current trace's, if any)."""

    key: bytes
    value: bytes
    occurred_at: datetime
    version: int = 0
    event_type: EventType = "sale.updated"
    actor: Actor | None = None
    traceparent: str | None = None


def change_event(
    event_type: EventType,
    sale_id: str,
    version: int,
    occurred_at: datetime,
    document: dict[str, Any] | None,
    actor: Actor | None = None,
    *,
    repair: bool = False,
) -> EncodedEvent:
    """The event is encoded straight from the sale's canonical `document` (none for a delete): its
    bytes are those of `SaleEvent.for_change(...).to_bytes()`, without building the model."""
    data = document if event_type != "sale.deleted" else None
    value = encode_change(event_type, sale_id, version, occurred_at, data, actor, repair=repair)
    return EncodedEvent(sale_id.encode(), value, occurred_at, version, event_type, actor)
