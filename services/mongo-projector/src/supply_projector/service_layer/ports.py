"""What the use cases need from the outside world, as small protocols."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from supply_projector.domain.changes import Op
from supply_projector.domain.rollups import Buckets


@dataclass(frozen=True)
class Record:
    """One Kafka record, independent of the client library."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    traceparent: bytes | None = None
    """The trace the change was made in (the record's `traceparent` header), when it came with one."""


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


@dataclass(frozen=True)
class Checkpoint:
    """Per partition, beside the rollups: `last`, the highest offset whose bucket deltas are
    recorded, and `pending`, the deltas recorded since the buckets last had all of them (None once
    known to be in every bucket). A bucket that has them holds `last` or more as its watermark of the
    partition.

    A consumer may record several batches' deltas summed in `pending` before it adds them to the
    buckets (`Projector.flush_every_s`). Whoever else adds them (a take-over, a check) first seals
    the checkpoint (`sealed`): a sum that someone may have added in part is never added to again,
    and the next batch records its own deltas alone."""

    partition: int
    last: int
    pending: Buckets | None = None
    sealed: bool = False


class CheckpointMoved(Exception):
    """Another consumer recorded the partition meanwhile: what this batch read is out of date."""


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

    def pinned(self) -> Store:
        """This store on the collections that are active now, for the whole of one batch."""
        ...

    def collection(self) -> str:
        """The name of the sales collection this store writes."""
        ...

    def documents(self, sale_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The documents the copy holds of these sales."""
        ...

    def checkpoints(self, partitions: Sequence[int]) -> dict[int, Checkpoint]: ...

    def record_checkpoints(
        self, checkpoints: Sequence[Checkpoint], expected: Mapping[int, int | None], extending: Collection[int] = ()
    ) -> None:
        """Write each checkpoint if its partition's `last` is still `expected` (None: no checkpoint
        yet) and, for the partitions `extending` (whose `pending` adds to the one recorded), it is not
        sealed; raises `CheckpointMoved` if one is not."""
        ...

    def seal(self, checkpoints: Sequence[Checkpoint]) -> None:
        """Mark these checkpoints sealed if each partition's `last` is still theirs; raises
        `CheckpointMoved` if one is not."""
        ...

    def add_to_buckets(self, checkpoints: Sequence[Checkpoint]) -> None:
        """Add each checkpoint's `pending` to the buckets whose watermark of its partition is below its
        `last`, raising the watermark to `last` in the same write. Idempotent."""
        ...

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
