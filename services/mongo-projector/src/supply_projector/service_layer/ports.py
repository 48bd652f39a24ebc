"""What the use cases need from the outside world, as small protocols."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from supply_projector.domain.changes import Op


@dataclass(frozen=True)
class Record:
    """One Kafka record, independent of the client library."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Executed:
    written: int = 0
    deleted: int = 0
    stale: int = 0


@dataclass(frozen=True)
class Parked:
    sale_id: str
    record: Record


@dataclass(frozen=True)
class Progress:
    topic: str
    partition: int
    offset: int
    last_occurred_at: datetime | None
    """None when no applied record of the partition told (its only records were poison): the
    watermark then stays where it was."""

    def after(self, earlier: Progress | None) -> Progress:
        """This position, keeping the later `last_occurred_at` of the two (never null over a date)."""
        if earlier is None or earlier.last_occurred_at is None:
            return self
        if self.last_occurred_at is not None and self.last_occurred_at >= earlier.last_occurred_at:
            return self
        return replace(self, last_occurred_at=earlier.last_occurred_at)


class Unstorable(Exception):
    """Writes the store can never carry out, whatever it retries (their documents do not encode), by
    sale id with the reason. Other writes of the same call may have been carried out: every write is
    version-guarded, so the caller calls again without these."""

    def __init__(self, reasons: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{sale_id}: {reason}" for sale_id, reason in reasons.items()))
        self.reasons = dict(reasons)


class Store(Protocol):
    def versions(self, sale_ids: Sequence[str]) -> dict[str, int] | None:
        """Current versions, or None where reading them costs more than trying inserts."""
        ...

    def tombstones(self, sale_ids: Sequence[str]) -> dict[str, int]: ...

    def execute(self, ops: Sequence[Op]) -> Executed:
        """Carry out the writes; raises `Unstorable` for those that cannot be encoded."""
        ...

    def quarantined(self, sale_ids: Iterable[str]) -> set[str]: ...

    def update_quarantine(self, added: dict[str, str], lifted: set[str]) -> None: ...

    def park(self, parked: Sequence[Parked]) -> None: ...

    def record_progress(self, progress: Sequence[Progress]) -> None:
        """Offsets and `last_occurred_at` only move forward; a None `last_occurred_at` changes nothing."""
        ...


class DeadLetters(Protocol):
    async def send(self, failures: Sequence[tuple[Record, Exception]]) -> None: ...
