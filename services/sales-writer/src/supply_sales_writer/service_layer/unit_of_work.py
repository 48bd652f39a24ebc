"""One MySQL transaction around a use case: the sale rows, their outbox rows and idempotency record."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy import Connection, Engine

from supply_sales_writer.adapters.bulk import PendingWrites
from supply_sales_writer.adapters.idempotency import IdempotencyStore
from supply_sales_writer.adapters.outbox import Outbox
from supply_sales_writer.adapters.repository import SaleRepository


class UnitOfWork:
    """`with uow: ...; uow.commit()`; leaving without commit rolls back. `on_commit` runs after a
    commit that wrote outbox rows (it wakes the relay)."""

    connection: Connection
    writes: PendingWrites
    sales: SaleRepository
    outbox: Outbox
    idempotency: IdempotencyStore

    def __init__(self, engine: Engine, topic: str, on_commit: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.topic = topic
        self.on_commit = on_commit

    def __enter__(self) -> UnitOfWork:
        self.connection = self.engine.connect()
        self.connection.begin()
        self.writes = PendingWrites(self.connection)
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


UnitOfWorkFactory = Callable[[], UnitOfWork]
