"""What the use cases need from the outside world, as small protocols implemented by `adapters/`.

The sales use cases work in a `UnitOfWork` (one MySQL transaction) holding the repositories; the
relay claims rows of an `OutboxStore`, hands them to a `Publisher` and publishes only while it holds
the `PublishLock`. Blocking calls (the stores, the lock) run in a worker thread; the publisher's are
awaited on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Final, NamedTuple, Protocol, Self

from supply_common.contract import Sale
from supply_common.tracing import Span
from supply_sales_writer.domain.events import EncodedEvent
from supply_sales_writer.domain.model import Stored
from supply_sales_writer.domain.prepared import Prepared

# --- the sales use cases --------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionedSale:
    sale: Sale
    version: int


UNSCOPED: Final = ""
"""The user id of idempotency keys remembered before keys were scoped per user."""


@dataclass(frozen=True)
class Remembered:
    """The first answer to a create made with an Idempotency-Key."""

    request_hash: str
    sale_id: str
    version: int
    status_code: int
    response: str
    created_at: datetime


class SaleRepository(Protocol):
    """Sales as the store holds them. `lock`: the rows read stay locked for update to the end of the
    transaction; `share`: locked in share mode (no change to them commits in between)."""

    def current_version(self, sale_id: str, *, lock: bool = False) -> int | None: ...
    def stored(self, ids: Sequence[str]) -> dict[str, Stored]: ...
    def add(self, entries: Sequence[tuple[Prepared, int]], now: datetime, *, fresh_ids: bool = False) -> None: ...
    def replace(self, entries: Sequence[tuple[Prepared, int]], now: datetime) -> None: ...
    def remove(self, sale_id: str, last_version: int, now: datetime) -> None: ...
    def get(self, sale_id: str) -> VersionedSale | None: ...
    def page(self, after: str | None, limit: int, *, share: bool = False) -> list[VersionedSale]: ...
    def many(self, ids: Sequence[str], *, share: bool = False) -> list[VersionedSale]: ...
    def deleted_versions(self, ids: Sequence[str], *, share: bool = False) -> dict[str, int]: ...


class EventOutbox(Protocol):
    """The events of a transaction, written with its changes."""

    def add(self, events: Sequence[EncodedEvent]) -> None: ...


class HistoryEntry(NamedTuple):
    version: int
    envelope: bytes
    """The change's event as it went to the outbox (who, when, what kind, the sale as it became)."""


class SaleHistory(Protocol):
    """One entry per version a change made, written in the change's transaction."""

    def add(self, events: Sequence[EncodedEvent]) -> None: ...
    def versions(self, sale_id: str, limit: int, before: int | None = None) -> list[HistoryEntry]:
        """Newest first, below `before` when given."""
        ...


class IdempotencyKeys(Protocol):
    """Remembered creates, per user and key."""

    def find(self, user_id: str, key: str) -> Remembered | None: ...
    def forget(self, user_id: str, key: str) -> None: ...
    def remember(self, user_id: str, key: str, entry: Remembered) -> None: ...
    def purge(self, created_before: datetime) -> int: ...


class UnitOfWork(Protocol):
    """`with uow: ...; uow.commit()`; leaving without commit rolls back."""

    @property
    def sales(self) -> SaleRepository: ...
    @property
    def outbox(self) -> EventOutbox: ...
    @property
    def idempotency(self) -> IdempotencyKeys: ...
    @property
    def history(self) -> SaleHistory: ...

    def snapshot(self) -> Self:
        """Make this unit a read-only transaction that reads one consistent snapshot."""
        ...

    def __enter__(self) -> Self: ...
    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None: ...
    def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


ConflictCheck = Callable[[Exception], bool]
"""Whether an error raised in a unit of work means it lost to another transaction (a deadlock, a
lock wait timeout, a lost insert race), so that running it again from the start may succeed."""


# --- the relay ------------------------------------------------------------------------------------


class OutboxRow(NamedTuple):
    """A claimed row as the relay needs it (a tuple: the relay builds thousands a second)."""

    id: int
    topic: str
    key: bytes
    payload: bytes
    created_us: int
    """Commit time in microseconds since the epoch (UTC); only for the publish-latency metric."""
    traceparent: str | None = None
    """The trace the change was made in (W3C `traceparent`), sent on as a record header."""


class Placed(NamedTuple):
    """Where the broker put rows sent together: their partition and the offset of the first, the
    others following in `ids` order. What a `Publisher`'s acknowledgement resolves to, when it can say."""

    partition: int
    base_offset: int
    ids: tuple[int, ...]


@dataclass(frozen=True)
class OutboxEvent:
    """A sale's event as the outbox still holds it (published rows go after the retention): when it
    was committed, and when and where it was published (None until then)."""

    outbox_id: int
    event_type: str
    version: int
    repair: bool
    committed_at: datetime
    published_at: datetime | None
    partition: int | None
    offset: int | None
    traceparent: str | None


@dataclass(frozen=True)
class OutboxStats:
    backlog: int
    oldest_unpublished_at: datetime | None
    last_published_at: datetime | None


class PublishLock(Protocol):
    """Held by one relay of a sales database at a time (blocking calls, never overlapping)."""

    name: str
    connection_id: int | None
    """Who holds it, as the store names the holder (None: not held by this relay)."""

    @property
    def held(self) -> bool: ...
    def acquire(self) -> bool: ...
    def still_held(self) -> bool: ...
    def release(self) -> None: ...


class Claim(Protocol):
    """Claimed rows, locked until `mark_published` (committed) or `give_back` (rolled back)."""

    rows: list[OutboxRow]

    @property
    def closed(self) -> bool: ...
    def mark_published(self, at: datetime, placed: Sequence[Placed] = ()) -> None: ...
    def give_back(self) -> None: ...


class OutboxStore(Protocol):
    def events_of(self, sale_id: str) -> list[OutboxEvent]:
        """The sale's events still in the outbox, oldest first."""
        ...

    def claim(self, lock: PublishLock, limit: int, *, wait: bool) -> Claim | None:
        """The oldest unpublished rows while `lock` is held (None: none, or the lock was lost).
        `wait`: wait for rows another claim holds instead of skipping them."""
        ...

    def stats(self) -> OutboxStats: ...
    def purge(self, published_before: datetime) -> int: ...


class Publisher(Protocol):
    """Hands rows to the broker in order per partition; each ack completes when the broker has them."""

    async def start(self) -> None:
        """Connect if not connected (nothing when it is)."""
        ...

    async def stop(self) -> None:
        """Send what it holds and disconnect (nothing when it is not connected); never raises."""
        ...

    async def send(
        self, rows: list[OutboxRow], spans: Mapping[int, Span] | None = None
    ) -> list[asyncio.Future[object]]:
        """Hand rows over; each acknowledgement resolves (to a `Placed`, where the broker says where)
        once the broker has its rows. `spans`: the publish span of each traced row (by row id), whose
        context its record carries and which is told where the row landed; the caller ends them."""
        ...
