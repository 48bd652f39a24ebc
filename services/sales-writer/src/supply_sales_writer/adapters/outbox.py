"""The transactional outbox: events written with the change, published later by the relay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, delete, func, select

from supply_sales_writer.adapters.bulk import BulkInsert, PendingWrites
from supply_sales_writer.adapters.repository import db_time, from_db_time
from supply_sales_writer.adapters.schema import outbox
from supply_sales_writer.domain.events import EncodedEvent


class OutboxRow(NamedTuple):
    """A claimed row as the relay needs it (a tuple: the relay builds thousands a second)."""

    id: int
    topic: str
    key: bytes
    payload: bytes
    created_us: int
    """Commit time in microseconds since the epoch (UTC); only for the publish-latency metric."""


@dataclass(frozen=True)
class OutboxStats:
    backlog: int
    oldest_unpublished_at: datetime | None
    last_published_at: datetime | None


INSERT_EVENT = BulkInsert(outbox, "topic", "msg_key", "payload", "created_at")


class Outbox:
    def __init__(self, connection: Connection, topic: str, writes: PendingWrites) -> None:
        self.connection = connection
        self.topic = topic
        self.writes = writes
        self.written = 0

    def add(self, events: Sequence[EncodedEvent]) -> None:
        if events:
            self.written += len(events)
            rows = [(self.topic, event.key, event.value, db_time(event.occurred_at)) for event in events]
            self.writes.add(INSERT_EVENT.render(self.connection, rows))


# The relay's statements as driver SQL: each runs for thousands of rows a second, where building
# Core constructs, a datetime and a dataclass per row cost more than MariaDB's side (measured on
# 5,000 rows: 19-26 us a row as a Core select, 8-12 us as below). The commit time comes as an
# integer, without a time zone (the column holds naive UTC).
#
# The claim locks rows through the primary key only, from the oldest unpublished id (read without
# locks through `ix_outbox_published_at_id`). Claimed through that secondary index, the claim of the
# next batch could hold the index entry of a row of the batch being marked (InnoDB skipped the row,
# not the entry it had locked); that batch's mark, which rewrites the entry, then waited for the
# next batch's transaction, which waits in the relay for the mark: a stall until the client's read
# timeout (seen once in 40 drains of 1,500 rows in batches of 150).
OLDEST = "SELECT MIN(id) FROM outbox WHERE published_at IS NULL"
# The same, and which connection holds a named lock, in one round trip.
OLDEST_AND_HOLDER = f"SELECT ({OLDEST}), IS_USED_LOCK(%(lock)s)"
CLAIM_WAITING = (
    "SELECT id, topic, msg_key, payload, TIMESTAMPDIFF(MICROSECOND, '1970-01-01', created_at)"
    " FROM outbox FORCE INDEX (PRIMARY) WHERE id >= %(oldest)s AND published_at IS NULL"
    " ORDER BY id LIMIT %(limit)s FOR UPDATE"
)
CLAIM = CLAIM_WAITING + " SKIP LOCKED"


def claim(
    connection: Connection, limit: int, *, wait: bool = False, holder: tuple[str, int] | None = None
) -> list[OutboxRow]:
    """Lock the oldest unpublished rows, in id order: those nobody else holds, or with `wait` the
    oldest ones even if that means waiting for another transaction's claim to end (marked rows no
    longer match once it commits; rows given back are taken). With `holder` (a named lock and a
    connection id), nothing unless that connection holds that lock as the claim begins."""
    if holder is None:
        oldest = connection.exec_driver_sql(OLDEST).scalar()
    else:
        lock, connection_id = holder
        oldest, holding = connection.exec_driver_sql(OLDEST_AND_HOLDER, {"lock": lock}).one()
        if holding != connection_id:
            return []
    if oldest is None:
        return []
    statement = CLAIM_WAITING if wait else CLAIM
    return list(map(OutboxRow._make, connection.exec_driver_sql(statement, {"oldest": oldest, "limit": limit})))


def mark_published(connection: Connection, ids: Sequence[int], at: datetime) -> None:
    if ids:
        # The ids are integers read from this table: written into the statement, not bound one by one.
        listed = ",".join(str(int(row_id)) for row_id in ids)
        connection.exec_driver_sql(
            f"UPDATE outbox SET published_at = %(at)s WHERE id IN ({listed})",  # noqa: S608 - integers only
            {"at": db_time(at)},
        )


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
