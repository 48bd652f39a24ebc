"""Apply a batch of records to the copy and its rollups: decode, dead-letter, quarantine, collapse,
guarded writes, bucket deltas.

The rollups take each change exactly once without transactions: per partition, the batch's bucket
deltas are first recorded in the partition's checkpoint (compare-and-set on its `last` offset),
then the sales are written, then the deltas are added to each bucket under the bucket's watermark
of the partition. A batch replayed after a stop anywhere in between finishes the recorded deltas,
and its changes at or below `last` only move the copy's state on.

The deltas may be added a few batches at a time (`flush_every_s`): the sales are in the copy as soon
as their batch is written, and adding to the buckets, which reads and writes each bucket document a
batch touches, is done once for all the batches of the interval. Until then each batch records the
sum of its deltas and those still waiting, so a stop anywhere leaves them all recorded; whoever else
adds them seals the checkpoint first (`Checkpoint.sealed`), so that a sum someone may have added in
part is never added to again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime

from bson import ObjectId

from supply_common.contract import SaleEvent
from supply_projector import metrics
from supply_projector.domain.changes import Change, Plan, plan
from supply_projector.domain.document import stored_document
from supply_projector.domain.rollups import Held, add, walk
from supply_projector.service_layer.pending import seal_and_add
from supply_projector.service_layer.ports import (
    Checkpoint,
    DeadLetters,
    Executed,
    Parked,
    Progress,
    Record,
    Store,
    Unstorable,
)

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
    rewind: dict[int, int] = field(default_factory=dict)
    """Partitions left out of the batch, to be read again from the given offset (see `Projector._gaps`)."""


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


@dataclass(eq=False)
class Projector:
    """The use case: one batch in, the copy updated, counts out. Safe to run again on the same batch."""

    store: Store
    dead_letters: DeadLetters | None
    _: KW_ONLY
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    follow_checkpoints: bool = True
    """False for a reader that starts every partition at its beginning (a rebuild)."""
    flush_every_s: float = 0.0
    """How long the recorded deltas of written batches may wait to be added to the buckets (0:
    each batch adds its own); `flush` adds them whenever the caller is idle."""
    _rewound: dict[tuple[str, int], int] = field(default_factory=dict, init=False, repr=False)
    _recorded: dict[tuple[str, int], int | None] = field(default_factory=dict, init=False, repr=False)
    """(collection, partition) -> the checkpoint's `last` as this projector last read or wrote it."""
    _held: dict[tuple[str, int], Checkpoint] = field(default_factory=dict, init=False, repr=False)
    """(collection, partition) -> the checkpoint this projector recorded last, while its deltas
    wait to be added to the buckets."""
    _flushed_at: float = field(default_factory=time.monotonic, init=False, repr=False)

    async def apply(self, records: Sequence[Record]) -> BatchResult:
        """What the batch needs to know of the copy is read at once (quarantine, tombstones, the
        sales' documents, the checkpoints not known yet), then the batch is decoded, planned and
        written in a worker thread, on the collections active when it began."""
        started = time.perf_counter()
        store = await asyncio.to_thread(self.store.pinned)  # may read the alias
        keys = sorted({sale_id for record in records if (sale_id := record_sale_id(record))})
        partitions = sorted({record.partition for record in records})
        unknown = [p for p in partitions if (store.collection(), p) not in self._recorded]
        quarantined, tombstones, documents, checkpoints = await asyncio.gather(
            asyncio.to_thread(store.quarantined, keys),
            asyncio.to_thread(store.tombstones, keys),
            asyncio.to_thread(store.documents, keys),
            asyncio.to_thread(store.checkpoints, unknown),
        )
        rewind = self._gaps(store.collection(), records, unknown, checkpoints)
        if rewind:
            records = [record for record in records if record.partition not in rewind]
            unknown = [p for p in unknown if p not in rewind]
        held = {sale_id: Held(documents.get(sale_id), tombstones.get(sale_id)) for sale_id in keys}
        try:
            result = await asyncio.to_thread(
                self._apply, store, records, quarantined, held, checkpoints, unknown, asyncio.get_running_loop()
            )
        except BaseException:
            for partition in partitions:  # read them again: another attempt may have moved them
                self._forget(store.collection(), partition)
            raise
        result.rewind = rewind
        metrics.APPLY_SECONDS.observe(time.perf_counter() - started)
        return result

    def _gaps(
        self, collection: str, records: Sequence[Record], unknown: Sequence[int], checkpoints: dict[int, Checkpoint]
    ) -> dict[int, int]:
        """Partitions whose records begin after the next offset the rollups expect, with that offset.

        It happens to a consumer whose position was reached on other collections (a rebuild swapped
        new ones in): the records in between were never counted in these rollups, so the partition
        is read again from there. Offsets have holes (compaction, transaction markers), so a
        partition read again from an offset is taken as it comes the next time."""
        if not self.follow_checkpoints:
            return {}
        first: dict[int, int] = {}
        for record in records:
            first[record.partition] = min(first.get(record.partition, record.offset), record.offset)
        rewind = {}
        for partition in unknown:
            held = checkpoints.get(partition)
            expected = held.last + 1 if held is not None else 0
            if first[partition] > expected and self._rewound.get((collection, partition)) != expected:
                rewind[partition] = expected
                self._rewound[(collection, partition)] = expected
        return rewind

    async def take_over(self, partitions: Sequence[int]) -> None:
        """On assignment: forget what was known of these partitions' checkpoints, and add the bucket
        deltas a stopped consumer recorded but may not have added."""
        store = await asyncio.to_thread(self.store.pinned)  # may read the alias
        for partition in partitions:
            self._forget(store.collection(), partition)
        checkpoints = await asyncio.to_thread(store.checkpoints, list(partitions))
        await asyncio.to_thread(self._finish_pending, store, checkpoints, partitions)

    def _apply(
        self,
        store: Store,
        records: Sequence[Record],
        quarantined: set[str],
        held: dict[str, Held],
        checkpoints: dict[int, Checkpoint],
        unknown: Sequence[int],
        loop: asyncio.AbstractEventLoop,
    ) -> BatchResult:
        batch = _Batch(quarantined=quarantined, initially=frozenset(quarantined))
        result = BatchResult()
        self._decode(records, batch, result)
        self._finish_pending(store, checkpoints, unknown)
        # A take-over running meanwhile may have dropped one: then the compare-and-set fails and the
        # batch is read again.
        recorded = {p: self._recorded.get((store.collection(), p)) for p in {r.partition for r in records}}
        ends: dict[int, int] = {}
        for record in records:
            ends[record.partition] = max(ends.get(record.partition, -1), record.offset)
        decided, executed, marks = self._write(store, batch, held, recorded, ends)
        written_at = self.clock()
        for mark in marks:  # what waits for the buckets now (the deltas of a batch may cancel those before)
            if mark.pending:
                self._held[(store.collection(), mark.partition)] = mark
            else:
                self._held.pop((store.collection(), mark.partition), None)
        if self._flush_due():
            self._flush(store)
        self._settle_poison(store, batch, loop)
        result.stale = decided.stale + executed.stale
        result.applied = len(batch.changes) - result.stale
        result.dead_lettered = len(batch.failures)
        result.parked = len(batch.parked)
        self._count(result, batch.changes, written_at)
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

    def _finish_pending(self, store: Store, checkpoints: dict[int, Checkpoint], read: Sequence[int]) -> None:
        """Bucket deltas an earlier attempt recorded but may not have added (it stopped between the
        two, or was summing batches) are sealed, then added; adding them again changes nothing."""
        seal_and_add(store, checkpoints.values())
        for partition in read:
            found = checkpoints.get(partition)
            self._recorded[(store.collection(), partition)] = found.last if found is not None else None
            self._held.pop((store.collection(), partition), None)

    def _forget(self, collection: str, partition: int) -> None:
        """Read the partition's checkpoint again before its next batch (and finish what it holds)."""
        self._recorded.pop((collection, partition), None)
        self._held.pop((collection, partition), None)

    def _flush_due(self) -> bool:
        return self.flush_every_s <= 0 or time.monotonic() - self._flushed_at >= self.flush_every_s

    def _flush(self, store: Store) -> None:
        """Add the held deltas of the store's collection to the buckets. Those of another collection
        (the copy was swapped for a rebuilt one meanwhile) are left to its checkpoints."""
        self._flushed_at = time.monotonic()
        collection = store.collection()
        held = {key: mark for key, mark in self._held.items() if key[0] == collection}
        self._held = {}
        if not held:
            return
        try:
            with metrics.ROLLUP_FLUSH_SECONDS.time():
                store.add_to_buckets([held[key] for key in sorted(held)])
        except BaseException:
            for _, partition in held:
                self._forget(collection, partition)
            raise

    async def flush(self) -> None:
        """Add what the batches applied so far recorded for the buckets, if any waits (the consumer
        calls it after a batch when no more records wait, before giving partitions up and when it
        stops)."""
        if self._held:
            store = await asyncio.to_thread(self.store.pinned)
            await asyncio.to_thread(self._flush, store)

    def _write(
        self,
        store: Store,
        batch: _Batch,
        held: dict[str, Held],
        recorded: dict[int, int | None],
        ends: dict[int, int],
    ) -> tuple[Plan, Executed, list[Checkpoint]]:
        """Record the batch's bucket deltas in the checkpoints, then carry out the guarded writes. A
        sale the store cannot encode is poison: its newest change is dead-lettered, the deltas are
        recorded again without it (nothing has added them yet), and the rest is written again (every
        write is guarded, so what the refused command carried out is not done twice)."""
        done = {p: last for p, last in recorded.items() if last is not None}
        expected = dict(recorded)
        collection = store.collection()
        versions = {sale_id: v for sale_id, h in held.items() if (v := h.version) is not None}
        tombstones = {sale_id: t for sale_id, h in held.items() if (t := h.tombstone) is not None}
        waiting = {p: mark.pending or {} for (c, p), mark in self._held.items() if c == collection}
        while True:
            deltas, _ = walk(batch.changes, held, done)
            marks = [
                Checkpoint(p, end, add(add({}, waiting.get(p, {})), deltas.get(p, {})))
                for p, end in ends.items()
                if end > done.get(p, -1)
            ]
            if marks:
                store.record_checkpoints(marks, expected, extending=waiting.keys())
                for mark in marks:
                    expected[mark.partition] = mark.last
                    self._recorded[(collection, mark.partition)] = mark.last
            decided = plan(batch.changes, versions, tombstones)
            try:
                return decided, store.execute(decided.ops), marks
            except Unstorable as refusal:
                refused = {(op.change.partition, op.change.offset): op.change for op in decided.ops}
                refused = {at: change for at, change in refused.items() if change.sale_id in refusal.reasons}
                if not refused:
                    raise
                for at, change in refused.items():
                    reason = refusal.reasons[change.sale_id]
                    batch.poison(batch.sources[at], UnstorableRecord(f"the sale cannot be stored: {reason}"))
                batch.changes = [c for c in batch.changes if (c.partition, c.offset) not in refused]

    def _settle_poison(self, store: Store, batch: _Batch, loop: asyncio.AbstractEventLoop) -> None:
        """Dead-letter the poison, quarantine its sales, park the events of quarantined sales, and
        lift the quarantine of sales repaired in this batch."""
        if batch.failures and self.dead_letters is not None:
            asyncio.run_coroutine_threadsafe(self.dead_letters.send(batch.failures), loop).result()
        added = {sale_id: batch.reasons.get(sale_id, "") for sale_id in batch.quarantined - batch.initially}
        lifted = batch.initially - batch.quarantined
        still_parked = [item for item in batch.parked if item.sale_id in batch.quarantined]
        if added:
            store.update_quarantine(added, set())
        if still_parked:
            store.park(still_parked)
        if lifted:
            store.update_quarantine({}, set(lifted))

    def _count(self, result: BatchResult, changes: Sequence[Change], finished: datetime) -> None:
        metrics.EVENTS.labels("applied").inc(result.applied)
        metrics.EVENTS.labels("stale").inc(result.stale)
        metrics.EVENTS.labels("dead_lettered").inc(result.dead_lettered)
        metrics.EVENTS.labels("parked").inc(result.parked)
        for change in changes:
            if change.occurred_at is not None:
                metrics.END_TO_END_SECONDS.observe(max((finished - change.occurred_at).total_seconds(), 0.0))

    @staticmethod
    def _track(result: BatchResult, record: Record, occurred_at: datetime | None) -> None:
        key = (record.topic, record.partition)
        held = result.progress.get(key)
        if held is None or record.offset >= held.offset:
            result.progress[key] = Progress(record.topic, record.partition, record.offset, occurred_at).after(held)
