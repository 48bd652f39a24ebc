"""One MySQL transaction around a use case (`UnitOfWork`): the sale rows, their outbox rows and
idempotency record."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Final

from pymysql.constants import ER
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from supply_sales_writer.adapters.bulk import PendingWrites, compound_for
from supply_sales_writer.adapters.idempotency import IdempotencyStore
from supply_sales_writer.adapters.outbox import Outbox
from supply_sales_writer.adapters.repository import SaleRepository
from supply_sales_writer.config import InsertMode

_CONFLICTS: Final = frozenset({ER.LOCK_DEADLOCK, ER.LOCK_WAIT_TIMEOUT, ER.DUP_ENTRY})

SNAPSHOT: Final = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
"""For the next transaction only (MariaDB and MySQL alike; its COMMIT or ROLLBACK ends it): every
SELECT in it reads the one snapshot taken at its first read."""


class SqlUnitOfWork:
    """`with uow: ...; uow.commit()`; leaving without commit rolls back. `on_commit` runs after a
    commit that wrote outbox rows (it wakes the relay).

    The engine reads committed: each statement sees what was committed when it started, so the
    statements of a transaction can each see another commit. A unit that writes reads what it will
    change under locks; a unit that only reads asks for `snapshot()` and sees one moment throughout
    (a sale's row, items and tags of one version).
    """

    connection: Connection
    writes: PendingWrites
    sales: SaleRepository
    outbox: Outbox
    idempotency: IdempotencyStore

    def __init__(
        self,
        engine: Engine,
        topic: str,
        on_commit: Callable[[], None] | None = None,
        insert_mode: InsertMode = "auto",
    ) -> None:
        self.engine = engine
        self.topic = topic
        self.on_commit = on_commit
        self.insert_mode: InsertMode = insert_mode
        self.read_only = False

    def snapshot(self) -> SqlUnitOfWork:
        """Make this unit a read-only transaction that reads one consistent snapshot."""
        self.read_only = True
        return self

    def __enter__(self) -> SqlUnitOfWork:
        self.connection = self.engine.connect()
        self.connection.begin()
        if self.read_only:
            self.connection.exec_driver_sql(SNAPSHOT)
        self.writes = PendingWrites(self.connection, compound=compound_for(self.connection, self.insert_mode))
        self.sales = SaleRepository(self.connection, self.writes)
        self.outbox = Outbox(self.connection, self.topic, self.writes)
        self.idempotency = IdempotencyStore(self.connection)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            self.writes.discard()
            if self.connection.in_transaction():
                self.connection.rollback()
        finally:
            self.connection.close()

    def commit(self) -> None:
        wrote = self.outbox.written
        self.writes.flush()
        self.connection.commit()
        if wrote and self.on_commit is not None:
            self.on_commit()

    def rollback(self) -> None:
        self.writes.discard()
        self.connection.rollback()
        self.connection.begin()
        self.outbox.written = 0


def is_conflict(error: Exception) -> bool:
    """`ConflictCheck`: a deadlock, a lock wait timeout or a lost insert race (duplicate key)."""
    if not isinstance(error, DBAPIError):
        return False
    code = error.orig.args[0] if error.orig is not None and error.orig.args else None
    return code in _CONFLICTS
