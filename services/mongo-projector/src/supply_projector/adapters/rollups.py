"""The rollups beside a sales collection: one document per UTC month in `<sales>_rollup_months`
(holding the month's bucket and the buckets of its days, each as one JSON string of its counters;
beside them, the marker of complete rollups) and the partitions' checkpoints in
`<sales>_rollup_checkpoints`. Both follow the sales collection through a rebuild's swap, as the
alias names it.

Why this shape (FerretDB v1 on SQLite, the default store): the server decodes and encodes every
element of a document's subdocuments on each read and write, and runs each statement of an `update`
as a transaction of its own. A string is one value whatever it holds (and it holds any name: field
names cannot hold `.` or `$`), and one document per month is one statement for every change a batch
makes to that month and its days: a batch of sales spread over five years writes at most sixty.
The months collection stays small (one document per month of sales), so it is read whole or by
`_id`. A month document changes by compare-and-set on its `rev`: read, add the deltas its
watermarks have not seen, write back if `rev` is unchanged, read again otherwise.

Rollups kept in the earlier shape (nested counters, one document per bucket in `<sales>_rollups`
and `<sales>_rollup_days`) are built again in this one by the consumer's start, which finds no
marker here, and the earlier collections are dropped once it is done.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson.int64 import Int64
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from supply_projector.domain.rollups import Buckets, Counters, add, month_of
from supply_projector.service_layer.ports import Checkpoint, CheckpointMoved
from supply_projector.service_layer.rollup_checks import Stored

MONTHS_SUFFIX = "_rollup_months"
CHECKPOINTS_SUFFIX = "_rollup_checkpoints"
EARLIER_SUFFIXES = ("_rollups", "_rollup_days")
"""The collections of the earlier shape, dropped once the rollups are built in this one."""
BUILT = "built"
"""The marker of rollups that cover the whole copy: `{state: building | built, owner, at}`."""
Run = Callable[[str, str, str, list[dict[str, Any]]], list[int]]
"""Runs an unordered write command to completion; returns the indexes refused as duplicate keys."""


def rollup_collections(sales: str) -> tuple[str, str]:
    """The month collection (with the marker) and the checkpoint collection of a sales collection."""
    return sales + MONTHS_SUFFIX, sales + CHECKPOINTS_SUFFIX


def checkpoint_id(partition: int) -> str:
    return f"checkpoint:{partition}"


def month_id(bucket: str) -> str:
    """The month document that holds a bucket (a month's or one of its days')."""
    return "m:" + month_of(bucket)


def _pending_document(pending: Buckets) -> str:
    return json.dumps(pending, sort_keys=True, separators=(",", ":"))


def _pending_of(stored: Any) -> Buckets | None:
    if stored is None:
        return None
    if isinstance(stored, str):
        return {bucket: {path: int(v) for path, v in values.items()} for bucket, values in json.loads(stored).items()}
    return {entry["b"]: dict(zip(entry["k"], (int(v) for v in entry["v"]), strict=True)) for entry in stored}


@dataclass
class Month:
    """A month document as read: its buckets (the month's and its days'), watermarks and `rev`
    (None: not stored yet)."""

    id: str
    rev: int | None = None
    wm: dict[str, int] = field(default_factory=dict)
    buckets: Buckets = field(default_factory=dict)

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> Month:
        buckets: Buckets = {}
        if document.get("m"):
            buckets[str(document["_id"])] = json.loads(document["m"])
        if document.get("d"):
            buckets.update(json.loads(document["d"]))
        wm = {p: int(last) for p, last in (document.get("wm") or {}).items()}
        return cls(str(document["_id"]), int(document.get("rev", 0)), wm, buckets)

    def document(self) -> dict[str, Any]:
        """The document to store: `rev` one past the one read."""
        days = {b: c for b, c in sorted(self.buckets.items()) if b.startswith("d:")}
        return {
            "_id": self.id,
            "rev": Int64((self.rev or 0) + 1),
            "wm": {p: Int64(last) for p, last in sorted(self.wm.items())},
            "m": json.dumps(self.buckets.get(self.id, {}), sort_keys=True, separators=(",", ":")),
            "d": json.dumps(days, sort_keys=True, separators=(",", ":")),
        }


def stored_months(database: Database[dict[str, Any]], sales: str) -> Iterator[Month]:
    """Every month document of a sales collection's rollups."""
    for document in database[rollup_collections(sales)[0]].find({}):
        if str(document["_id"]).startswith("m:"):
            yield Month.of(document)


def _parsed(text: Any) -> Any:
    return json.loads(text) if text else {}


class MongoRollups:
    """The rollup half of `service_layer.ports.Store`, and `service_layer.rollup_checks.RollupStore`,
    for one sales collection."""

    def __init__(self, database: Database[dict[str, Any]], sales: str, run: Run) -> None:
        self.database = database
        self.sales = sales
        self.months, self.checkpoint_collection = rollup_collections(sales)
        self.run = run

    def checkpoints(self, partitions: Sequence[int]) -> dict[int, Checkpoint]:
        collection = self.database[self.checkpoint_collection]
        found = {}
        for partition in partitions:
            document = collection.find_one({"_id": checkpoint_id(partition)})
            if document is not None:
                found[partition] = Checkpoint(partition, int(document["last"]), _pending_of(document.get("pending")))
        return found

    def record_checkpoints(self, checkpoints: Sequence[Checkpoint], expected: Mapping[int, int | None]) -> None:
        updates = []
        for checkpoint in checkpoints:
            before = expected.get(checkpoint.partition)
            updates.append(
                {
                    "q": {
                        "_id": checkpoint_id(checkpoint.partition),
                        "last": {"$exists": False} if before is None else Int64(before),
                    },
                    "u": {
                        "$set": {"last": Int64(checkpoint.last), "pending": _pending_document(checkpoint.pending or {})}
                    },
                    "upsert": before is None,
                }
            )
        reply = self.database.command({"update": self.checkpoint_collection, "updates": updates, "ordered": True})
        if reply.get("writeErrors") or int(reply.get("n", 0)) != len(updates):
            raise CheckpointMoved(f"a checkpoint of partitions {sorted(expected)} moved meanwhile")

    def add_to_buckets(self, checkpoints: Sequence[Checkpoint]) -> None:
        """Each month the checkpoints' deltas touch is read, given the deltas of each partition its
        watermark has not seen, and written back in one statement; a month another process wrote
        meanwhile is read again."""
        parts: dict[str, list[tuple[str, int, Buckets]]] = {}
        for checkpoint in checkpoints:
            by_month: dict[str, Buckets] = {}
            for bucket, values in (checkpoint.pending or {}).items():
                by_month.setdefault(month_id(bucket), {})[bucket] = values
            for month, buckets in by_month.items():
                parts.setdefault(month, []).append((str(checkpoint.partition), checkpoint.last, buckets))

        def add_unseen(month: Month) -> bool:
            unseen = [(p, last, buckets) for p, last, buckets in parts[month.id] if month.wm.get(p, -1) < last]
            for partition, last, buckets in unseen:
                add(month.buckets, buckets)
                month.wm[partition] = max(month.wm.get(partition, -1), last)
            return bool(unseen)

        self._change(parts, add_unseen)

    def _change(self, months: Iterable[str], change: Callable[[Month], bool]) -> None:
        """Read these months, let `change` alter each (True: it did), and write back those it changed
        under a compare-and-set on `rev`; a month written meanwhile is read and changed again."""
        waiting = set(months)
        while waiting:
            held = self._read(waiting)
            changed = [month for month in (held.get(m) or Month(m) for m in sorted(waiting)) if change(month)]
            waiting = self._write(changed)

    def _read(self, months: Iterable[str]) -> dict[str, Month]:
        wanted = sorted(months)
        if not wanted:
            return {}
        return {str(d["_id"]): Month.of(d) for d in self.database[self.months].find({"_id": {"$in": wanted}})}

    def _write(self, months: Sequence[Month]) -> set[str]:
        """Store these months, each only if its `rev` is still the one read; returns those that
        another process wrote meanwhile (read again, all of them, when any update missed: the
        command counts the matches, not which ones)."""
        new = [month for month in months if month.rev is None]
        stored = [month for month in months if month.rev is not None]
        missed = {new[i].id for i in self.run(self.months, "insert", "documents", [m.document() for m in new])}
        if stored:
            reply = self.database.command(
                {
                    "update": self.months,
                    "updates": [{"q": {"_id": m.id, "rev": Int64(m.rev or 0)}, "u": m.document()} for m in stored],
                    "ordered": False,
                }
            )
            if reply.get("writeErrors") or int(reply.get("n", 0)) != len(stored):
                missed.update(m.id for m in stored)
        return missed

    def replace_counters(self, buckets: Mapping[str, Counters], revs: Mapping[str, int | None]) -> list[str]:
        """A bucket with a `rev` given is replaced only if its month's `rev` is still that one (None:
        the bucket was absent and still is); a month written meanwhile is read again."""
        by_month: dict[str, dict[str, Counters]] = {}
        for bucket, values in buckets.items():
            by_month.setdefault(month_id(bucket), {})[bucket] = values
        moved: set[str] = set()

        def replace(month: Month) -> bool:
            replaced = False
            for bucket, values in by_month[month.id].items():
                if bucket in moved:
                    continue
                if bucket in revs and (bucket in month.buckets if revs[bucket] is None else month.rev != revs[bucket]):
                    moved.add(bucket)
                    continue
                if values:
                    month.buckets[bucket] = dict(values)
                else:
                    month.buckets.pop(bucket, None)
                replaced = True
            return replaced

        self._change(by_month, replace)
        return sorted(moved)

    def set_checkpoints(self, offsets: Mapping[int, int]) -> None:
        """Checkpoints at these offsets with nothing pending (the buckets were built up to them)."""
        collection = self.database[self.checkpoint_collection]
        for partition, last in offsets.items():
            collection.replace_one({"_id": checkpoint_id(partition)}, {"last": Int64(last)}, upsert=True)

    def stored_buckets(self) -> dict[str, Stored]:
        return {
            bucket: Stored(values, month.rev or 0)
            for month in stored_months(self.database, self.sales)
            for bucket, values in month.buckets.items()
        }

    def finish_pending(self) -> int:
        checkpoints = [
            Checkpoint(int(str(d["_id"]).split(":", 1)[1]), int(d["last"]), _pending_of(d.get("pending")))
            for d in self.database[self.checkpoint_collection].find({})
            if str(d["_id"]).startswith("checkpoint:")
        ]
        unfinished = [c for c in checkpoints if c.pending]
        if unfinished:
            self.add_to_buckets(unfinished)
        return len(unfinished)

    def sale_documents(self) -> Iterator[dict[str, Any]]:
        collection = self.database[self.sales]
        after: Any = None
        while True:
            query = {"_id": {"$gt": after}} if after is not None else {}
            page = list(collection.find(query).sort("_id", 1).limit(1000))
            yield from page
            if len(page) < 1000:
                return
            after = page[-1]["_id"]

    def claim_build(self, owner: str, stale_s: float) -> str:
        marks = self.database[self.months]
        now = datetime.now(UTC)
        try:
            marks.insert_one({"_id": BUILT, "state": "building", "owner": owner, "at": now})
            return "mine"
        except DuplicateKeyError:
            pass
        found = marks.find_one({"_id": BUILT}) or {}
        if found.get("state") == "built":
            return "built"
        if found.get("owner") == owner:
            return "mine"
        at = found.get("at")
        if at is not None and (now - at).total_seconds() > stale_s:
            taken = marks.update_one(
                {"_id": BUILT, "owner": found.get("owner"), "at": at}, {"$set": {"owner": owner, "at": now}}
            )
            if taken.matched_count:
                return "mine"
        return "busy"

    def refresh_claim(self, owner: str) -> None:
        self.database[self.months].update_one({"_id": BUILT, "owner": owner}, {"$set": {"at": datetime.now(UTC)}})

    def mark_built(self, owner: str) -> None:
        self.database[self.months].replace_one(
            {"_id": BUILT}, {"state": "built", "owner": owner, "at": datetime.now(UTC)}, upsert=True
        )
        for suffix in EARLIER_SUFFIXES:
            self.database.drop_collection(self.sales + suffix)


class RollupReader:
    """The buckets analytics read, and the sales of the partial days at a window's edges."""

    def __init__(self, database: Database[dict[str, Any]], active: Callable[[], str]) -> None:
        self.database = database
        self.active = active

    def complete(self) -> bool:
        """Whether the rollups cover the whole copy: built for it (by the consumer's start or a
        rebuild) and kept since in the same batches as the sales."""
        months, _ = rollup_collections(self.active())
        found = self.database[months].find_one({"_id": BUILT}, {"state": 1})
        return found is not None and found.get("state") == "built"

    def months(self, first: str | None, end: str | None) -> dict[str, Counters]:
        """Month buckets from `first` up to (not including) `end`; None: unbounded."""
        months, _ = rollup_collections(self.active())
        found = {}
        for document in self.database[months].find({}, {"m": 1}):
            bucket = str(document["_id"])
            if bucket.startswith("m:") and (first is None or bucket >= first) and (end is None or bucket < end):
                found[bucket] = _parsed(document.get("m"))
        return found

    def days(self, buckets: Sequence[str]) -> dict[str, Counters]:
        if not buckets:
            return {}
        months, _ = rollup_collections(self.active())
        wanted = set(buckets)
        found = {}
        for document in self.database[months].find({"_id": {"$in": sorted({month_id(b) for b in wanted})}}, {"d": 1}):
            found.update({b: c for b, c in _parsed(document.get("d")).items() if b in wanted})
        return found

    def sales_between(self, start: datetime, end: datetime | None) -> list[dict[str, Any]]:
        """The documents of the sales dated in `[start, end)` (part of one day)."""
        bounds: dict[str, Any] = {"$gte": start}
        if end is not None:
            bounds["$lt"] = end
        return list(self.database[self.active()].find({"saleDate": bounds}))
