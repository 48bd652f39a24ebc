"""The transactional outbox: events written with the change, published later by the relay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, func, select

from supply_sales_writer.adapters.bulk import BulkInsert, PendingWrites
from supply_sales_writer.adapters.repository import db_time, from_db_time
from supply_sales_writer.adapters.schema import outbox
from supply_sales_writer.domain.events import EncodedEvent
from supply_sales_writer.service_layer.ports import OutboxRow, OutboxStats, PublishLock

__all__ = ["INSERT_EVENT", "Outbox", "OutboxRow", "OutboxStats", "SqlClaim", "SqlOutbox", "claim", "stats"]


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


class SqlClaim:
    """Rows claimed by the open transaction of `connection` (`Claim`)."""

    def __init__(self, connection: Connection, rows: list[OutboxRow]) -> None:
        self.connection = connection
        self.rows = rows

    @property
    def closed(self) -> bool:
        return self.connection.closed

    def mark_published(self, at: datetime) -> None:
        """Mark the rows published, commit, and let the connection go (one trip to a worker thread)."""
        try:
            mark_published(self.connection, [row.id for row in self.rows], at)
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

    def purge(self, published_before: datetime) -> int:
        """Delete published rows older than `published_before`, in batches; how many went."""
        total = 0
        while True:
            with self.engine.begin() as connection:
                purged = purge(connection, published_before)
            total += purged
            if purged < 10_000:
                return total
