"""In-memory fakes of the sales-writer's own ports (`service_layer/ports.py`), for use-case tests.

A fake unit of work works on a copy of the fake database and writes it back on commit, so a unit left
without commit changes nothing, as a rolled back transaction."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Self

from supply_sales_writer.domain.events import EncodedEvent
from supply_sales_writer.domain.model import Stored
from supply_sales_writer.domain.prepared import Prepared
from supply_sales_writer.service_layer.ports import (
    HistoryEntry,
    OutboxRow,
    OutboxStats,
    Placed,
    Remembered,
    VersionedSale,
)


@dataclass
class Tables:
    sales: dict[str, VersionedSale] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    events: list[EncodedEvent] = field(default_factory=list)
    keys: dict[tuple[str, str], Remembered] = field(default_factory=dict)
    history: list[EncodedEvent] = field(default_factory=list)


class FakeSales:
    def __init__(self, tables: Tables) -> None:
        self.t = tables

    def current_version(self, sale_id: str, *, lock: bool = False) -> int | None:
        found = self.t.sales.get(sale_id)
        return found.version if found else None

    def stored(self, ids: Sequence[str]) -> dict[str, Stored]:
        known = {i: Stored(self.t.sales[i].version, self.t.hashes[i]) for i in ids if i in self.t.sales}
        known |= {i: Stored(deleted_version=self.t.deleted[i]) for i in ids if i in self.t.deleted and i not in known}
        return known

    def add(self, entries: Sequence[tuple[Prepared, int]], now: datetime, *, fresh_ids: bool = False) -> None:
        for prepared, _ in entries:
            self.t.deleted.pop(prepared.sale.id, None)
        self.replace(entries, now)

    def replace(self, entries: Sequence[tuple[Prepared, int]], now: datetime) -> None:
        for prepared, version in entries:
            self.t.sales[prepared.sale.id] = VersionedSale(prepared.sale, version)
            self.t.hashes[prepared.sale.id] = prepared.digest

    def remove(self, sale_id: str, last_version: int, now: datetime) -> None:
        del self.t.sales[sale_id], self.t.hashes[sale_id]
        self.t.deleted[sale_id] = last_version

    def get(self, sale_id: str) -> VersionedSale | None:
        return self.t.sales.get(sale_id)

    def page(self, after: str | None, limit: int, *, share: bool = False) -> list[VersionedSale]:
        return [self.t.sales[i] for i in sorted(self.t.sales) if after is None or i > after][:limit]

    def many(self, ids: Sequence[str], *, share: bool = False) -> list[VersionedSale]:
        return [self.t.sales[i] for i in sorted(set(ids)) if i in self.t.sales]

    def deleted_versions(self, ids: Sequence[str], *, share: bool = False) -> dict[str, int]:
        return {i: self.t.deleted[i] for i in ids if i in self.t.deleted}


class FakeOutbox:
    def __init__(self, tables: Tables) -> None:
        self.t = tables

    def add(self, events: Sequence[EncodedEvent]) -> None:
        self.t.events.extend(events)


class FakeHistory:
    def __init__(self, tables: Tables) -> None:
        self.t = tables

    def add(self, events: Sequence[EncodedEvent]) -> None:
        self.t.history.extend(events)

    def versions(self, sale_id: str, limit: int, before: int | None = None) -> list[HistoryEntry]:
        mine = [e for e in self.t.history if e.key == sale_id.encode() and (before is None or e.version < before)]
        return [HistoryEntry(e.version, e.value) for e in sorted(mine, key=lambda e: -e.version)][:limit]


class FakeKeys:
    def __init__(self, tables: Tables) -> None:
        self.t = tables

    def find(self, user_id: str, key: str) -> Remembered | None:
        return self.t.keys.get((user_id, key))

    def forget(self, user_id: str, key: str) -> None:
        self.t.keys.pop((user_id, key), None)

    def remember(self, user_id: str, key: str, entry: Remembered) -> None:
        self.t.keys[(user_id, key)] = entry

    def purge(self, created_before: datetime) -> int:
        old = [k for k, v in self.t.keys.items() if v.created_at < created_before]
        for k in old:
            del self.t.keys[k]
        return len(old)


class FakeUnitOfWork:
    def __init__(self, database: FakeDatabase) -> None:
        self.database = database

    def snapshot(self) -> Self:
        return self

    def __enter__(self) -> Self:
        self.tables = copy.deepcopy(self.database.tables)
        self.sales = FakeSales(self.tables)
        self.outbox = FakeOutbox(self.tables)
        self.idempotency = FakeKeys(self.tables)
        self.history = FakeHistory(self.tables)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        pass

    def commit(self) -> None:
        if self.database.fail_commits:
            self.database.fail_commits -= 1
            raise self.database.failure
        self.database.tables = self.tables
        self.database.commits += 1


@dataclass
class FakeDatabase:
    """The state the fake units of work share; `fail_commits` commits raise `failure` first."""

    tables: Tables = field(default_factory=Tables)
    commits: int = 0
    fail_commits: int = 0
    failure: Exception = field(default_factory=lambda: ConflictError("lost to another transaction"))

    def unit_of_work(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


class ConflictError(Exception):
    """What a fake unit of work raises for a transaction that lost to another."""


def is_conflict(error: Exception) -> bool:
    return isinstance(error, ConflictError)


# --- the relay's ports ----------------------------------------------------------------------------


class FakeLock:
    """A publish lock that another relay may hold (`taken_elsewhere`)."""

    def __init__(self, taken_elsewhere: bool = False) -> None:
        self.name = "sales.outbox_relay"
        self.connection_id: int | None = None
        self.taken_elsewhere = taken_elsewhere

    @property
    def held(self) -> bool:
        return self.connection_id is not None

    def acquire(self) -> bool:
        if self.taken_elsewhere:
            return False
        self.connection_id = 1
        return True

    def still_held(self) -> bool:
        if self.taken_elsewhere:
            self.connection_id = None
        return self.held

    def release(self) -> None:
        self.connection_id = None


class FakeClaim:
    def __init__(self, store: FakeOutboxStore, rows: list[OutboxRow]) -> None:
        self.store = store
        self.rows = rows
        self.closed = False

    def mark_published(self, at: datetime, placed: Sequence[Placed] = ()) -> None:
        self.store.published += [row.id for row in self.rows]
        self.give_back()

    def give_back(self) -> None:
        self.store.claimed -= {row.id for row in self.rows}
        self.closed = True


class FakeOutboxStore:
    def __init__(self, rows: Sequence[OutboxRow] = ()) -> None:
        self.rows = list(rows)
        self.published: list[int] = []
        self.claimed: set[int] = set()

    def claim(self, lock: FakeLock, limit: int, *, wait: bool) -> FakeClaim | None:
        if not lock.held:
            return None
        done = set(self.published) | self.claimed
        rows = [row for row in self.rows if row.id not in done][:limit]
        if not rows or not lock.still_held():
            return None
        self.claimed |= {row.id for row in rows}
        return FakeClaim(self, rows)

    def stats(self) -> OutboxStats:
        return OutboxStats(len(self.rows) - len(set(self.published)), None, None)

    def purge(self, published_before: datetime) -> int:
        return 0


class FakePublisher:
    """Acknowledges at once what it is sent, or fails the acks of the next `fail_sends` sends."""

    def __init__(self) -> None:
        self.started = False
        self.sent: list[OutboxRow] = []
        self.fail_sends = 0

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def send(self, rows: list[OutboxRow], spans: object = None) -> list[asyncio.Future[object]]:
        assert self.started
        ack: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self.fail_sends:
            self.fail_sends -= 1
            ack.set_exception(ConnectionError("broker away"))
        else:
            self.sent += rows
            ack.set_result(None)
        return [ack]


def outbox_rows(count: int, keys: Callable[[int], bytes] = lambda i: f"{i % 3:024x}".encode()) -> list[OutboxRow]:
    return [OutboxRow(i, "sales.events", keys(i), f"event {i}".encode(), 0) for i in range(1, count + 1)]
