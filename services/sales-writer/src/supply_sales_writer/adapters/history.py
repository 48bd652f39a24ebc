"""A sale's history: one row per version, written with the change (one more INSERT of the same
pending compound statement, no extra round trip on MariaDB), read back newest first."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from supply_sales_writer.adapters.bulk import BulkInsert, PendingWrites
from supply_sales_writer.adapters.repository import db_time
from supply_sales_writer.adapters.schema import sale_history
from supply_sales_writer.domain.events import EncodedEvent
from supply_sales_writer.service_layer.ports import HistoryEntry

INSERT_VERSION = BulkInsert(
    sale_history, "sale_id", "version", "event_type", "user_id", "role", "occurred_at", "envelope"
)


class SaleHistory:
    def __init__(self, connection: Connection, writes: PendingWrites) -> None:
        self.connection = connection
        self.writes = writes

    def add(self, events: Sequence[EncodedEvent]) -> None:
        rows = [
            (
                event.key.decode(),
                event.version,
                event.event_type,
                event.actor.user_id if event.actor else None,
                event.actor.role if event.actor else None,
                db_time(event.occurred_at),
                event.value,
            )
            for event in events
        ]
        if rows:
            self.writes.add(INSERT_VERSION.render(self.connection, rows))

    def versions(self, sale_id: str, limit: int, before: int | None = None) -> list[HistoryEntry]:
        query = select(sale_history.c.version, sale_history.c.envelope).where(sale_history.c.sale_id == sale_id)
        if before is not None:
            query = query.where(sale_history.c.version < before)
        rows = self.connection.execute(query.order_by(sale_history.c.version.desc()).limit(limit))
        return [HistoryEntry(int(version), bytes(envelope)) for version, envelope in rows]
