"""What a sale adds to the analytics buckets, and how a batch's events change them, with no I/O.

A bucket is one UTC day (`d:2017-12-12`) or one UTC month (`m:2017-12`) of sale dates. Its counters
are flat integer paths (money in cents), so that a change of the copy is one `$inc` per bucket:
`n` sales, `c` cents, `q` items sold; `store.<name>.{n,c}`, `method.<name>.{n,c}`,
`coupon.<true|false>.{n,c}`; `item.<name>.{n,q,c}` (lines, quantity, cents); `tag.<tag>.{n,c}`
(sales carrying the tag, cents of their lines carrying it); `sat.<1..5>` sales per satisfaction.
Names from the data are encoded (`key`) so that no `.` or `$` reaches a field name.

The buckets hold exactly the sum of the contributions of the documents in the copy: each change
of a document adds `delta(contribution(before), contribution(after))` once. `walk` finds those
deltas for a batch from what the copy holds, following the same version rules as the writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from supply_common.contract import METADATA_FIELD
from supply_projector.domain import money
from supply_projector.domain.changes import Change, verdict
from supply_projector.domain.document import cents

Counters = dict[str, int]
Buckets = dict[str, Counters]
"""Bucket id -> counters."""

_ESCAPES = (("%", "%25"), (".", "%2E"), ("$", "%24"))


def key(name: str) -> str:
    """A name from the data as a field name: `%`, `.` and `$` percent-encoded."""
    for raw, escaped in _ESCAPES:
        name = name.replace(raw, escaped)
    return name


def name_of(field: str) -> str:
    for raw, escaped in reversed(_ESCAPES):
        field = field.replace(escaped, raw)
    return field


def day_bucket(when: datetime) -> str:
    return "d:" + when.astimezone(UTC).strftime("%Y-%m-%d")


def month_bucket(when: datetime) -> str:
    return "m:" + when.astimezone(UTC).strftime("%Y-%m")


def month_of(bucket: str) -> str:
    """The `YYYY-MM` month a bucket id falls in."""
    return bucket.split(":", 1)[1][:7]


def counters(document: Mapping[str, Any]) -> Counters:
    """The counters of one stored sale document."""
    meta = document[METADATA_FIELD]
    total = int(meta["total_cents"])
    found: Counters = {"n": 1, "c": total, "q": int(meta["item_count"])}

    def add(path: str, value: int) -> None:
        found[path] = found.get(path, 0) + value

    for dimension, value in (
        ("store", document["storeLocation"]),
        ("method", document["purchaseMethod"]),
        ("coupon", "true" if document["couponUsed"] else "false"),
    ):
        add(f"{dimension}.{key(str(value))}.n", 1)
        add(f"{dimension}.{key(str(value))}.c", total)
    add(f"sat.{int(document['customer']['satisfaction'])}", 1)
    tagged: dict[str, int] = {}
    for item in document["items"]:
        name = key(str(item["name"]))
        quantity = int(item["quantity"])
        revenue = cents(money.amount(item["price"]) * quantity)
        add(f"item.{name}.n", 1)
        add(f"item.{name}.q", quantity)
        add(f"item.{name}.c", revenue)
        for tag in dict.fromkeys(item.get("tags") or ()):
            tagged[tag] = tagged.get(tag, 0) + revenue
    for tag, tag_cents in tagged.items():
        add(f"tag.{key(str(tag))}.n", 1)
        add(f"tag.{key(str(tag))}.c", tag_cents)
    return found


def contribution(document: Mapping[str, Any] | None) -> Buckets:
    """What one sale document adds to its day and month buckets (nothing for an absent sale)."""
    if document is None:
        return {}
    found = counters(document)
    when: datetime = document["saleDate"]
    return {day_bucket(when): dict(found), month_bucket(when): found}


def add(into: Buckets, more: Buckets, sign: int = 1) -> Buckets:
    """`into` plus `sign` times `more`, in place; counters that come to 0 and empty buckets dropped."""
    for bucket, values in more.items():
        held = into.setdefault(bucket, {})
        for path, value in values.items():
            total = held.get(path, 0) + sign * value
            if total:
                held[path] = total
            else:
                held.pop(path, None)
        if not held:
            del into[bucket]
    return into


def delta(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> Buckets:
    """`contribution(after) - contribution(before)`; either may be None (a create, a delete)."""
    return add(add({}, contribution(after)), contribution(before), -1)


def total(parts: Iterable[Buckets]) -> Buckets:
    summed: Buckets = {}
    for part in parts:
        add(summed, part)
    return summed


@dataclass(frozen=True)
class Held:
    """What the copy holds of one sale: its document (None: absent) and its tombstone's version."""

    document: dict[str, Any] | None = None
    tombstone: int | None = None

    @property
    def version(self) -> int | None:
        return None if self.document is None else int(self.document[METADATA_FIELD]["version"])

    def after(self, change: Change) -> Held:
        """The copy once `change` is applied under the version rules (unchanged when it is stale)."""
        outcome = verdict(change, self.version, self.tombstone)
        if outcome == "write":
            return replace(self, document=change.document)
        if outcome == "delete":
            return Held(None, max(self.tombstone or 0, change.version))
        return self


def walk(
    changes: Sequence[Change], held: Mapping[str, Held], recorded: Mapping[int, int]
) -> tuple[dict[int, Buckets], dict[str, Held]]:
    """The bucket deltas of a batch per partition, and what the copy holds after it.

    `changes` in record order (a partition's in offset order); `held` what the copy holds now of
    their sales; `recorded` per partition the highest offset whose deltas the buckets already have
    (an earlier attempt at this batch): such a change moves the copy's state on, and adds nothing."""
    state = dict(held)
    deltas: dict[int, Buckets] = {}
    for change in changes:
        before = state.get(change.sale_id, Held())
        after = before.after(change)
        if after is before:
            continue
        state[change.sale_id] = after
        if change.offset > recorded.get(change.partition, -1):
            add(deltas.setdefault(change.partition, {}), delta(before.document, after.document))
    return deltas, state
