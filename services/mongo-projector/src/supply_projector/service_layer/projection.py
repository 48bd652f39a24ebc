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
from supply_projector.domain.changes import Change, needs_current_version, plan
from supply_projector.domain.projection import stored_document
from supply_projector.service_layer.ports import DeadLetters, Parked, Progress, Record, Store, Unstorable

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
        result = await asyncio.to_thread(
            self._prepare_and_write, records, quarantined, tombstones, asyncio.get_running_loop()
        )
        metrics.APPLY_SECONDS.observe(time.perf_counter() - started)
        return result

    def _prepare_and_write(
        self,
        records: Sequence[Record],
        quarantined: set[str],
        tombstones: dict[str, int],
        loop: asyncio.AbstractEventLoop,
    ) -> BatchResult:
        result = BatchResult()
        now = self.clock()
        initially = set(quarantined)
        reasons: dict[str, str] = {}
        failures: list[tuple[Record, Exception]] = []
        parked: list[Parked] = []
        changes: list[Change] = []
        source: dict[tuple[int, int], Record] = {}

        def poison(record: Record, error: PoisonRecord) -> None:
            failures.append((record, error))
            sale_id = record_sale_id(record)
            if sale_id is not None:
                quarantined.add(sale_id)
                reasons[sale_id] = str(error)

        for record in records:
            self._track(result, record, None)
            try:
                event = decode(record)
            except PoisonRecord as exc:
                poison(record, exc)
                continue
            self._track(result, record, event.occurred_at)
            if event.sale_id in quarantined:
                if not event.repair:
                    parked.append(Parked(event.sale_id, record))
                    continue
                quarantined.discard(event.sale_id)
            try:
                document = stored_document(event, now)
            except (ArithmeticError, ValueError, TypeError) as exc:
                poison(record, UnstorableRecord(f"the sale cannot be stored: {type(exc).__name__}: {exc}"[:1000]))
                continue
            source[(record.partition, record.offset)] = record
            changes.append(
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

        while True:
            to_read = sorted({change.sale_id for change in changes if needs_current_version(change)})
            decided = plan(changes, self.store.versions(to_read), tombstones)
            try:
                executed = self.store.execute(decided.ops)
                break
            except Unstorable as refusal:
                # The newest change of each refused sale is poison; the rest is written again (guarded).
                refused = {(op.change.partition, op.change.offset): op.change for op in decided.ops}
                refused = {at: change for at, change in refused.items() if change.sale_id in refusal.reasons}
                if not refused:
                    raise
                for at, change in refused.items():
                    reason = refusal.reasons[change.sale_id]
                    poison(source[at], UnstorableRecord(f"the sale cannot be stored: {reason}"))
                changes = [change for change in changes if (change.partition, change.offset) not in refused]

        if failures and self.dead_letters is not None:
            asyncio.run_coroutine_threadsafe(self.dead_letters.send(failures), loop).result()
        added = {sale_id: reasons.get(sale_id, "") for sale_id in quarantined - initially}
        lifted = initially - quarantined
        parked_count = len(parked)
        parked = [item for item in parked if item.sale_id in quarantined]
        if added:
            self.store.update_quarantine(added, set())
        if parked:
            self.store.park(parked)
        if lifted:
            self.store.update_quarantine({}, lifted)

        result.stale = decided.stale + executed.stale
        result.applied = len(changes) - result.stale
        result.dead_lettered = len(failures)
        result.parked = parked_count
        metrics.EVENTS.labels("applied").inc(result.applied)
        metrics.EVENTS.labels("stale").inc(result.stale)
        metrics.EVENTS.labels("dead_lettered").inc(result.dead_lettered)
        metrics.EVENTS.labels("parked").inc(result.parked)
        finished = self.clock()
        for change in changes:
            if change.occurred_at is not None:
                metrics.END_TO_END_SECONDS.observe(max((finished - change.occurred_at).total_seconds(), 0.0))
        return result

    @staticmethod
    def _track(result: BatchResult, record: Record, occurred_at: datetime | None) -> None:
        key = (record.topic, record.partition)
        held = result.progress.get(key)
        if held is None or record.offset >= held.offset:
            result.progress[key] = Progress(record.topic, record.partition, record.offset, occurred_at).after(held)
