"""The transactional outbox: events written with the change, published later by the relay."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, func, select

from supply_common import tracing
from supply_sales_writer.adapters.bulk import BulkInsert, PendingWrites
from supply_sales_writer.adapters.repository import db_time, from_db_time
from supply_sales_writer.adapters.schema import outbox
from supply_sales_writer.domain.events import EncodedEvent
from supply_sales_writer.service_layer.ports import OutboxEvent, OutboxRow, OutboxStats, Placed, PublishLock

__all__ = ["INSERT_EVENT", "Outbox", "OutboxRow", "OutboxStats", "SqlClaim", "SqlOutbox", "claim", "stats"]


INSERT_EVENT = BulkInsert(outbox, "topic", "msg_key", "payload", "created_at", "traceparent")


class Outbox:
    def __init__(self, connection: Connection, topic: str, writes: PendingWrites) -> None:
        self.connection = connection
        self.topic = topic
        self.writes = writes
        self.written = 0

    def add(self, events: Sequence[EncodedEvent]) -> None:
        """Write the events' rows with the transaction; each keeps its own trace context, else the
        current trace's (None when tracing is off)."""
        if events:
            self.written += len(events)
            current = tracing.traceparent()
            rows = [
                (self.topic, event.key, event.value, db_time(event.occurred_at), event.traceparent or current)
                for event in events
            ]
            self.writes.add(INSERT_EVENT.render(self.connection, rows))


# The relay's statements as driver SQL: each runs for thousands of rows a second, where building
# Core constructs, a datetime and a dataclass per row cost more than MariaDB's side. The commit time comes as an
# integer, without a time zone (the column holds naive UTC).
#
# The claim locks rows through the primary key only, from the oldest unpublished id (read without
# locks through `ix_outbox_published_at_id`). Claimed through that secondary index, the claim of the
# next batch could hold the index entry of a row of the batch being marked (InnoDB skipped the row,
# not the entry it had locked); that batch's mark, which rewrites the entry, then waited for the
# next batch's transaction, which waits in the relay for the mark: a stall until the client's read
# timeout.
OLDEST = "SELECT MIN(id) FROM outbox WHERE published_at IS NULL"
# The same, and which connection holds a named lock, in one round trip.
OLDEST_AND_HOLDER = f"SELECT ({OLDEST}), IS_USED_LOCK(%(lock)s)"
CLAIM_WAITING = (
    "SELECT id, topic, msg_key, payload, TIMESTAMPDIFF(MICROSECOND, '1970-01-01', created_at), traceparent"
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


def mark_published(connection: Connection, ids: Sequence[int], at: datetime, placed: Sequence[Placed] = ()) -> None:
    """Mark rows published at `at`, and where the broker put those it said (`placed`)."""
    if ids:
        # Ids, partitions and offsets are integers (read from this table or from the broker's answer):
        # written into the statement, not bound one by one.
        listed = ",".join(str(int(row_id)) for row_id in ids)
        positions = ""
        if placed:
            # Each row finds its own entry by a binary search over the ids in ascending order (INTERVAL),
            # then its partition and offset by position (ELT): a CASE over thousands of ids would be
            # read from the top for every row.
            landed = sorted(
                (int(row_id), int(p.partition), int(p.base_offset) + n)
                for p in placed
                for n, row_id in enumerate(p.ids)
            )
            found = "INTERVAL(id," + ",".join(str(row_id) for row_id, _, _ in landed) + ")"
            partitions = ",".join(str(partition) for _, partition, _ in landed)
            offsets = ",".join(str(offset) for _, _, offset in landed)
            positions = f", published_partition = ELT({found},{partitions}), published_offset = ELT({found},{offsets})"
        connection.exec_driver_sql(
            f"UPDATE outbox SET published_at = %(at)s{positions} WHERE id IN ({listed})",  # noqa: S608 - integers only
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


def events_of(connection: Connection, sale_id: str) -> list[OutboxEvent]:
    """The outbox rows of one sale (found by their record key), oldest first."""
    found = connection.execute(
        select(
            outbox.c.id,
            outbox.c.payload,
            outbox.c.created_at,
            outbox.c.published_at,
            outbox.c.published_partition,
            outbox.c.published_offset,
            outbox.c.traceparent,
        )
        .where(outbox.c.msg_key == sale_id.encode())
        .order_by(outbox.c.id)
    )
    events = []
    for row_id, payload, created_at, published_at, partition, offset, traceparent in found:
        envelope = json.loads(payload)
        events.append(
            OutboxEvent(
                outbox_id=row_id,
                event_type=envelope["event_type"],
                version=envelope["version"],
                repair=bool(envelope.get("repair", False)),
                committed_at=from_db_time(created_at),
                published_at=from_db_time(published_at) if published_at else None,
                partition=partition,
                offset=offset,
                traceparent=traceparent,
            )
        )
    return events


class SqlClaim:
    """Rows claimed by the open transaction of `connection` (`Claim`)."""

    def __init__(self, connection: Connection, rows: list[OutboxRow]) -> None:
        self.connection = connection
        self.rows = rows

    @property
    def closed(self) -> bool:
        return self.connection.closed

    def mark_published(self, at: datetime, placed: Sequence[Placed] = ()) -> None:
        """Mark the rows published (and where they landed), commit, and let the connection go (one
        trip to a worker thread)."""
        try:
            mark_published(self.connection, [row.id for row in self.rows], at, placed)
            self.connection.commit()
        finally:
            self.connection.close()

    def give_back(self) -> None:
        """Close the connection, rolling the claim back unless it was committed."""
        if not self.connection.closed:
            self.connection.close()


class SqlOutbox:
    """The outbox table as the relay uses it (`OutboxStore`); each call is blocking."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, lock: PublishLock, limit: int, *, wait: bool) -> SqlClaim | None:
        """A claim holding the rows' locks in its open transaction, or None when there is nothing to
        publish or the publish lock was lost (the connection is back in the pool then).

        `wait` (the lock was just taken): the claim waits for rows a previous holder still has
        claimed rather than skipping them, so that they are published (by it, or again here) before
        anything after them. The lock is checked as the claim begins (in its first statement) and
        after it (on the lock's own connection, which notices a lost connection): a relay that lost
        the lock gives the claim back rather than publish beside its successor, and holds rows its
        successor would skip for no longer than one round trip."""
        holder = lock.connection_id
        if holder is None:
            return None
        connection = self.engine.connect()
        try:
            connection.begin()
            rows = claim(connection, limit, wait=wait, holder=(lock.name, holder))
            if not lock.still_held():
                rows = []
        except BaseException:
            connection.close()
            raise
        if not rows:
            connection.close()
            return None
        return SqlClaim(connection, rows)

    def stats(self) -> OutboxStats:
        with self.engine.connect() as connection:
            return stats(connection)

    def events_of(self, sale_id: str) -> list[OutboxEvent]:
        with self.engine.connect() as connection:
            return events_of(connection, sale_id)

    def purge(self, published_before: datetime) -> int:
        """Delete published rows older than `published_before`, in batches; how many went."""
        total = 0
        while True:
            with self.engine.begin() as connection:
                purged = purge(connection, published_before)
            total += purged
            if purged < 10_000:
                return total
