"""The rollups against a recomputation from the copy: built for a copy that has none, checked and
repaired by `reconcile`.

Buckets are recomputed in one pass over the sales. A bucket is reported only if it differs from the
recomputation in two passes in a row, with the same stored bucket and the same recomputed figures in
both: a batch being applied meanwhile changes one or the other. Deltas that a stopped consumer
recorded but did not add are added first. A repair replaces a bucket's counters only if the bucket
did not change since it was read (its `rev`), and keeps its watermarks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from supply_projector.domain.rollups import Buckets, Counters, add, contribution, month_of
from supply_projector.service_layer.pending import Finishing, seal_and_add
from supply_projector.service_layer.ports import Checkpoint, CheckpointMoved

log = logging.getLogger(__name__)

BUILD_STALE_S = 600.0
"""A build claim not refreshed for this long is taken over (its process is gone)."""


@dataclass(frozen=True)
class Stored:
    counters: Counters
    rev: int


class RollupStore(Finishing, Protocol):
    def sale_documents(self) -> Iterator[dict[str, Any]]: ...

    def sales_on(self, day: str) -> Iterator[dict[str, Any]]:
        """The documents of the sales dated on one UTC day (`d:YYYY-MM-DD`)."""
        ...

    def stored_buckets(self) -> dict[str, Stored]: ...

    def all_checkpoints(self) -> list[Checkpoint]:
        """The checkpoint of every partition recorded."""
        ...

    def replace_counters(self, buckets: Mapping[str, Counters], revs: Mapping[str, int | None]) -> list[str]:
        """Set the counters of buckets whose `rev` is still the given one (None: absent); returns the
        buckets that changed meanwhile (left as they are)."""
        ...

    def set_checkpoints(self, offsets: Mapping[int, int]) -> None: ...

    def claim_build(self, owner: str, stale_s: float) -> str:
        """ "built", "mine" (this owner builds), or "busy" (another does)."""
        ...

    def refresh_claim(self, owner: str) -> None: ...

    def mark_built(self, owner: str) -> None: ...


def finish_pending(store: RollupStore) -> int:
    """Add every checkpoint's pending deltas, sealed first (`service_layer.pending`); how many checkpoints
    had some."""
    while True:
        try:
            return seal_and_add(store, store.all_checkpoints())
        except CheckpointMoved:
            continue  # a batch recorded meanwhile: read them again


def recompute(store: RollupStore, progress_every: int = 5000) -> Buckets:
    summed: Buckets = {}
    for n, document in enumerate(store.sale_documents(), 1):
        add(summed, contribution(document))
        if n % progress_every == 0:
            log.info("rollups: sales counted", extra={"sales": n})
    return summed


def build_if_missing(store: RollupStore, committed: Mapping[int, int], owner: str, wait_s: float = 1.0) -> bool:
    """Build the rollups of a copy that has none from the copy itself, with checkpoints at the
    offsets the consumer group has committed (the copy holds at least what they cover, and changes
    after them apply over it as usual). One process builds; the others wait. True if this one built."""
    while True:
        claim = store.claim_build(owner, BUILD_STALE_S)
        if claim == "built":
            return False
        if claim == "mine":
            break
        time.sleep(wait_s)
    log.info("rollups: none for this copy; building them from the copy")
    summed = recompute(store)
    store.refresh_claim(owner)
    stale: Buckets = {bucket: {} for bucket in store.stored_buckets() if bucket not in summed}
    store.replace_counters({**stale, **summed}, {})
    store.set_checkpoints({partition: offset - 1 for partition, offset in committed.items() if offset > 0})
    store.mark_built(owner)
    log.info("rollups: built", extra={"buckets": len(summed)})
    return True


@dataclass
class RollupFindings:
    buckets: int = 0
    differing: dict[str, Counters] = field(default_factory=dict)
    """Bucket -> its recomputed counters."""
    revs: dict[str, int | None] = field(default_factory=dict)
    changing: int = 0
    """Buckets that differed once but changed between the two passes (a batch was being applied)."""


def _counters(stored: Mapping[str, Stored], bucket: str) -> Counters:
    return stored[bucket].counters if bucket in stored else {}


def _differences(stored: Mapping[str, Stored], recomputed: Buckets) -> set[str]:
    return {b for b in set(stored) | set(recomputed) if stored.get(b, Stored({}, 0)).counters != recomputed.get(b, {})}


def check(store: RollupStore) -> RollupFindings:
    finish_pending(store)
    first_stored, first = store.stored_buckets(), recompute(store)
    differing = _differences(first_stored, first)
    findings = RollupFindings(buckets=len(set(first_stored) | set(first)))
    if not differing:
        return findings
    second_stored, second = store.stored_buckets(), recompute(store)
    for bucket in sorted(differing & _differences(second_stored, second)):
        before, after = first_stored.get(bucket), second_stored.get(bucket)
        if before == after and first.get(bucket, {}) == second.get(bucket, {}):
            findings.differing[bucket] = second.get(bucket, {})
            findings.revs[bucket] = after.rev if after is not None else None
    findings.changing = len(differing) - len(findings.differing)
    return findings


def repair(store: RollupStore, findings: RollupFindings) -> tuple[int, int]:
    """Replace the differing buckets' counters; returns (replaced, changed meanwhile and left)."""
    if not findings.differing:
        return 0, 0
    # A batch records its deltas before it writes its sales: one whose sales the recomputation read
    # but whose deltas are not added yet moves its buckets' rev here, so they are left, not replaced
    # with figures that already count it.
    finish_pending(store)
    moved = store.replace_counters(findings.differing, findings.revs)
    return len(findings.differing) - len(moved), len(moved)


def recount(store: RollupStore, days: Iterable[str]) -> tuple[int, int]:
    """Recompute the buckets of these days (`d:YYYY-MM-DD`) from the copy's sales of each day, and
    each of their months as the sum of its days' buckets (what a month's bucket is): the buckets that
    a change of one sale made outside the projector can leave off, found without reading every sale
    as `check` does. Each is replaced only if it did not change since it was read. Returns (replaced,
    changed meanwhile and left)."""
    finish_pending(store)
    wanted = sorted(set(days))
    stored = store.stored_buckets()
    buckets: dict[str, Counters] = {}
    for day in wanted:
        counted: Buckets = {}
        for document in store.sales_on(day):
            add(counted, {day: contribution(document)[day]})
        buckets[day] = counted.get(day, {})
    for month in sorted({month_of(day) for day in wanted}):
        summed: Buckets = {}
        for bucket, held in stored.items():
            if bucket.startswith("d:") and month_of(bucket) == month and bucket not in buckets:
                add(summed, {"m": held.counters})
        for day in wanted:
            if month_of(day) == month:
                add(summed, {"m": buckets[day]})
        buckets["m:" + month] = summed.get("m", {})
    changed = {bucket: values for bucket, values in buckets.items() if _counters(stored, bucket) != values}
    if not changed:
        return 0, 0
    finish_pending(store)  # a batch whose sales were just read moves its buckets' rev: they are left
    moved = store.replace_counters(changed, {b: stored[b].rev if b in stored else None for b in changed})
    return len(changed) - len(moved), len(moved)
