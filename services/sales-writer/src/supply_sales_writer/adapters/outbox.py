"""The transactional outbox: events written with the change, published later by the relay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, select, update

from supply_common.contract import SaleEvent
from supply_sales_writer.adapters.repository import db_time, driver_insert, from_db_time
from supply_sales_writer.adapters.schema import outbox


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    key: bytes
    payload: bytes
    created_at: datetime


@dataclass(frozen=True)
class OutboxStats:
    backlog: int
    oldest_unpublished_at: datetime | None
    last_published_at: datetime | None


INSERT_EVENT = driver_insert(outbox, "topic", "msg_key", "payload", "created_at")


class Outbox:
    def __init__(self, connection: Connection, topic: str) -> None:
        self.connection = connection
        self.topic = topic
        self.written = 0

    def add(self, events: Sequence[SaleEvent]) -> None:
        if events:
            self.written += len(events)
            self.connection.exec_driver_sql(
                INSERT_EVENT,
                [
                    {
                        "topic": self.topic,
                        "msg_key": event.key,
                        "payload": event.to_bytes(),
                        "created_at": db_time(event.occurred_at),
                    }
                    for event in events
                ],
            )


def claim(connection: Connection, limit: int) -> list[OutboxRow]:
    """Lock the oldest unpublished rows no other relay holds, in id order."""
    rows = connection.execute(
        select(outbox.c.id, outbox.c.topic, outbox.c.msg_key, outbox.c.payload, outbox.c.created_at)
        .where(outbox.c.published_at.is_(None))
        .order_by(outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [OutboxRow(r.id, r.topic, bytes(r.msg_key), bytes(r.payload), from_db_time(r.created_at)) for r in rows]


def mark_published(connection: Connection, ids: Sequence[int], at: datetime) -> None:
    connection.execute(update(outbox).where(outbox.c.id.in_(ids)).values(published_at=db_time(at)))


def purge(connection: Connection, published_before: datetime, limit: int = 10_000) -> int:
    """Delete published rows older than the retention; returns how many went."""
    ids = (
        connection.execute(
            select(outbox.c.id)
            .where(outbox.c.published_at.is_not(None), outbox.c.published_at < db_time(published_before))
            .limit(limit)
        )
        .scalars()
        .all()
    )
    if ids:
        connection.execute(delete(outbox).where(outbox.c.id.in_(ids)))
    return len(ids)


def stats(connection: Connection) -> OutboxStats:
    backlog, oldest = connection.execute(
        select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))
    ).one()
    last = connection.execute(select(func.max(outbox.c.published_at))).scalar_one_or_none()
    return OutboxStats(
        backlog=backlog,
        oldest_unpublished_at=from_db_time(oldest) if oldest else None,
        last_published_at=from_db_time(last) if last else None,
    )
