"""Apply a batch of records to the copy: decode, dead-letter, quarantine, collapse, guarded writes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bson import ObjectId

from supply_common.contract import SaleEvent
from supply_projector import metrics
from supply_projector.domain.changes import Change, Plan, needs_current_version, plan
from supply_projector.domain.document import stored_document
from supply_projector.service_layer.ports import DeadLetters, Executed, Parked, Progress, Record, Store, Unstorable

log = logging.getLogger(__name__)


class PoisonRecord(ValueError):
    """A record that cannot be decoded or breaks the contract."""


class UnstorableRecord(PoisonRecord):
    """A valid event whose document cannot be built or stored (e.g. cents beyond a 64-bit integer):
    retrying never helps, so it is dead-lettered like a record that does not decode."""


@dataclass
class BatchResult:
    applied: int = 0
    stale: int = 0
    dead_lettered: int = 0
    parked: int = 0
    progress: dict[tuple[str, int], Progress] = field(default_factory=dict)


def record_sale_id(record: Record) -> str | None:
    """The record key as a sale id, if it is one."""
    try:
        key = (record.key or b"").decode()
    except UnicodeDecodeError:
        return None
    return key if len(key) == 24 and ObjectId.is_valid(key) and key == key.lower() else None


def decode(record: Record) -> SaleEvent:
    try:
        event = SaleEvent.from_bytes(record.value)
    except ValueError as exc:
        raise PoisonRecord(str(exc)[:1000]) from exc
    if record.key is not None and record.key != event.key:
        raise PoisonRecord("record key differs from sale_id")
    return event


@dataclass
class _Batch:
    """What decoding a batch sorted out, as the later steps need it."""

    quarantined: set[str]
    initially: frozenset[str]
    changes: list[Change] = field(default_factory=list)
    failures: list[tuple[Record, Exception]] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    parked: list[Parked] = field(default_factory=list)
    sources: dict[tuple[int, int], Record] = field(default_factory=dict)

    def poison(self, record: Record, error: PoisonRecord) -> None:
        """Dead-letter the record and quarantine its sale, if its key names one."""
        self.failures.append((record, error))
        sale_id = record_sale_id(record)
        if sale_id is not None:
            self.quarantined.add(sale_id)
            self.reasons[sale_id] = str(error)


class Projector:
    """The use case: one batch in, the copy updated, counts out. Safe to run again on the same batch."""

    def __init__(
        self,
        store: Store,
        dead_letters: DeadLetters | None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.dead_letters = dead_letters
        self.clock = clock

    async def apply(self, records: Sequence[Record]) -> BatchResult:
        """The batch's quarantine and tombstone lookups go out together (two round trips in the time
        of one), then the batch is decoded, planned and written in a worker thread."""
        started = time.perf_counter()
        keys = sorted({sale_id for record in records if (sale_id := record_sale_id(record))})
        quarantined, tombstones = await asyncio.gather(
            asyncio.to_thread(self.store.quarantined, keys), asyncio.to_thread(self.store.tombstones, keys)
        )
        result = await asyncio.to_thread(self._apply, records, quarantined, tombstones, asyncio.get_running_loop())
        metrics.APPLY_SECONDS.observe(time.perf_counter() - started)
        return result

    def _apply(
        self,
        records: Sequence[Record],
        quarantined: set[str],
        tombstones: dict[str, int],
        loop: asyncio.AbstractEventLoop,
    ) -> BatchResult:
        batch = _Batch(quarantined=quarantined, initially=frozenset(quarantined))
        result = BatchResult()
        self._decode(records, batch, result)
        decided, executed = self._write(batch, tombstones)
        self._settle_poison(batch, loop)
        result.stale = decided.stale + executed.stale
        result.applied = len(batch.changes) - result.stale
        result.dead_lettered = len(batch.failures)
        result.parked = len(batch.parked)
        self._count(result, batch.changes)
        return result

    def _decode(self, records: Sequence[Record], batch: _Batch, result: BatchResult) -> None:
        """Each record becomes a change, poison (undecodable, or a sale the copy cannot hold), or a
        parked event of a quarantined sale; a repair event lifts its sale's quarantine."""
        now = self.clock()
        for record in records:
            self._track(result, record, None)
            try:
                event = decode(record)
            except PoisonRecord as exc:
                batch.poison(record, exc)
                continue
            self._track(result, record, event.occurred_at)
            if event.sale_id in batch.quarantined:
                if not event.repair:
                    batch.parked.append(Parked(event.sale_id, record))
                    continue
                batch.quarantined.discard(event.sale_id)
            try:
                document = stored_document(event, now)
            except (ArithmeticError, ValueError, TypeError) as exc:
                batch.poison(record, UnstorableRecord(f"the sale cannot be stored: {type(exc).__name__}: {exc}"[:1000]))
                continue
            batch.sources[(record.partition, record.offset)] = record
            batch.changes.append(
                Change(
                    sale_id=event.sale_id,
                    version=event.version,
                    document=document,
                    repair=event.repair,
                    occurred_at=event.occurred_at,
                    partition=record.partition,
                    offset=record.offset,
                )
            )

    def _write(self, batch: _Batch, tombstones: dict[str, int]) -> tuple[Plan, Executed]:
        """Plan and carry out the guarded writes. A sale the store cannot encode is poison: its newest
        change is dead-lettered and the rest written again (every write is guarded, so the writes the
        refused command carried out are not done twice)."""
        while True:
            to_read = sorted({change.sale_id for change in batch.changes if needs_current_version(change)})
            decided = plan(batch.changes, self.store.versions(to_read), tombstones)
            try:
                return decided, self.store.execute(decided.ops)
            except Unstorable as refusal:
                refused = {(op.change.partition, op.change.offset): op.change for op in decided.ops}
                refused = {at: change for at, change in refused.items() if change.sale_id in refusal.reasons}
                if not refused:
                    raise
                for at, change in refused.items():
                    reason = refusal.reasons[change.sale_id]
                    batch.poison(batch.sources[at], UnstorableRecord(f"the sale cannot be stored: {reason}"))
                batch.changes = [c for c in batch.changes if (c.partition, c.offset) not in refused]

    def _settle_poison(self, batch: _Batch, loop: asyncio.AbstractEventLoop) -> None:
        """Dead-letter the poison, quarantine its sales, park the events of quarantined sales, and
        lift the quarantine of sales repaired in this batch."""
        if batch.failures and self.dead_letters is not None:
            asyncio.run_coroutine_threadsafe(self.dead_letters.send(batch.failures), loop).result()
        added = {sale_id: batch.reasons.get(sale_id, "") for sale_id in batch.quarantined - batch.initially}
        lifted = batch.initially - batch.quarantined
        still_parked = [item for item in batch.parked if item.sale_id in batch.quarantined]
        if added:
            self.store.update_quarantine(added, set())
        if still_parked:
            self.store.park(still_parked)
        if lifted:
            self.store.update_quarantine({}, set(lifted))

    def _count(self, result: BatchResult, changes: Sequence[Change]) -> None:
        metrics.EVENTS.labels("applied").inc(result.applied)
        metrics.EVENTS.labels("stale").inc(result.stale)
        metrics.EVENTS.labels("dead_lettered").inc(result.dead_lettered)
        metrics.EVENTS.labels("parked").inc(result.parked)
        finished = self.clock()
        for change in changes:
            if change.occurred_at is not None:
                metrics.END_TO_END_SECONDS.observe(max((finished - change.occurred_at).total_seconds(), 0.0))

    @staticmethod
    def _track(result: BatchResult, record: Record, occurred_at: datetime | None) -> None:
        key = (record.topic, record.partition)
        held = result.progress.get(key)
        if held is None or record.offset >= held.offset:
            result.progress[key] = Progress(record.topic, record.partition, record.offset, occurred_at).after(held)
