"""The rollups beside a sales collection, in three collections named after it:
`<sales>_rollup_month_buckets` holds one document per UTC month of sale dates (`m:YYYY-MM`: the
month's bucket, as one JSON string of its counters) and the marker of complete rollups;
`<sales>_rollup_day_buckets` holds one document per month for the days of that month (`d:YYYY-MM`:
the buckets of its days, as one JSON string of `{d:YYYY-MM-DD: counters}`); `<sales>_rollup_checkpoints`
holds the partitions' checkpoints, all in one document (`partitions`, a field `p<N>` each: `last`,
`pending` and, once someone other than the consumer that recorded it adds it, `sealed`), so that a
batch records the checkpoints of all its partitions in one statement: at live rates every batch holds
every partition, and each statement is a transaction of its own on FerretDB. All three follow the
sales collection through a rebuild's swap, as the alias names it.

Why this shape: docs/README.md ("The rollups' documents").

Each document is a unit of its own, with its own `rev` and, per partition, its own watermark `wm`
(the last offset whose deltas it holds). It changes by compare-and-set on its `rev`: read, add the
deltas its watermarks have not seen, write back if `rev` is unchanged, read again otherwise. A batch
that stops between a month's two documents leaves its deltas recorded in the checkpoint; finishing
them adds to the document that missed them only, since the other's watermark has them.

Checkpoints kept in the earlier shape (a document `checkpoint:<N>` per partition) are moved into the
one document the first time they are read, each by a compare-and-set on its absence there, then
removed.

Rollups kept in an earlier shape (nested counters, one document per bucket in `<sales>_rollups` and
`<sales>_rollup_days`; one document per month holding the month and its days in
`<sales>_rollup_months`) are built again in this one by the consumer's start, which finds no marker
here, and the earlier collections are dropped once it is done.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from bson.int64 import Int64
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from supply_projector.domain.rollups import Buckets, Counters, add, month_of
from supply_projector.service_layer.ports import Checkpoint, CheckpointMoved
from supply_projector.service_layer.rollup_checks import Stored

MONTHS_SUFFIX = "_rollup_month_buckets"
DAYS_SUFFIX = "_rollup_day_buckets"
CHECKPOINTS_SUFFIX = "_rollup_checkpoints"
EARLIER_SUFFIXES = ("_rollups", "_rollup_days", "_rollup_months")
"""The collections of the earlier shapes, dropped once the rollups are built in this one."""
BUILT = "built"
"""The marker of rollups that cover the whole copy: `{state: building | built, owner, at}`."""
Run = Callable[[str, str, str, list[dict[str, Any]]], list[int]]
"""Runs an unordered write command to completion; returns the indexes refused as duplicate keys."""
MONTHS = {"$gte": "m:", "$lt": "m;"}
"""Every month document's `_id` (`;` follows `:`), and not the marker's."""


class RollupCollections(NamedTuple):
    months: str
    """The months' documents, and the marker."""
    days: str
    """The documents of each month's days."""
    checkpoints: str


def rollup_collections(sales: str) -> RollupCollections:
    """The rollup collections of a sales collection."""
    return RollupCollections(sales + MONTHS_SUFFIX, sales + DAYS_SUFFIX, sales + CHECKPOINTS_SUFFIX)


PARTITIONS = "partitions"
"""The document that holds every partition's checkpoint, as the field `partition_field(N)`."""


EARLIER_CHECKPOINTS = {"$gte": "checkpoint:", "$lt": "checkpoint;"}
"""The `_id`s of the checkpoints kept in the earlier shape (`checkpoint:<N>`, a document each)."""


def partition_field(partition: int) -> str:
    return f"p{partition}"


def _checkpoint(partition: int, stored: Mapping[str, Any]) -> Checkpoint:
    return Checkpoint(partition, int(stored["last"]), _pending_of(stored.get("pending")), bool(stored.get("sealed")))


def _stored(checkpoint: Checkpoint) -> dict[str, Any]:
    return {"last": Int64(checkpoint.last), "pending": _json(checkpoint.pending or {})}


def _at(last: int | None) -> Any:
    """The condition that a partition's recorded `last` is this one (None: none recorded)."""
    return {"$exists": False} if last is None else Int64(last)


def document_id(bucket: str) -> str:
    """The document that holds a bucket: its month's (`m:YYYY-MM`) for a month bucket, the days' of
    its month (`d:YYYY-MM`) for a day bucket."""
    return bucket[:2] + month_of(bucket)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _pending_of(stored: Any) -> Buckets | None:
    if stored is None:
        return None
    if isinstance(stored, str):
        return {bucket: {path: int(v) for path, v in values.items()} for bucket, values in json.loads(stored).items()}
    return {entry["b"]: dict(zip(entry["k"], (int(v) for v in entry["v"]), strict=True)) for entry in stored}


@dataclass
class Unit:
    """One rollup document as read: a month's (`m:YYYY-MM`, holding the month's bucket) or the days'
    of a month (`d:YYYY-MM`, holding its days' buckets), with its watermarks and `rev` (None: not
    stored yet)."""

    id: str
    rev: int | None = None
    wm: dict[str, int] = field(default_factory=dict)
    buckets: Buckets = field(default_factory=dict)

    @property
    def is_month(self) -> bool:
        return self.id.startswith("m:")

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> Unit:
        unit = str(document["_id"])
        buckets: Buckets = {}
        if unit.startswith("m:"):
            if document.get("m"):
                buckets[unit] = json.loads(document["m"])
        elif document.get("d"):
            buckets = json.loads(document["d"])
        wm = {p: int(last) for p, last in (document.get("wm") or {}).items()}
        return cls(unit, int(document.get("rev", 0)), wm, buckets)

    def document(self) -> dict[str, Any]:
        """The document to store: `rev` one past the one read."""
        stored: dict[str, Any] = {
            "_id": self.id,
            "rev": Int64((self.rev or 0) + 1),
            "wm": {p: Int64(last) for p, last in sorted(self.wm.items())},
        }
        if self.is_month:
            stored["m"] = _json(self.buckets.get(self.id, {}))
        else:
            stored["d"] = _json(self.buckets)
        return stored


def stored_units(database: Database[dict[str, Any]], sales: str) -> Iterator[Unit]:
    """Every month document and days document of a sales collection's rollups."""
    names = rollup_collections(sales)
    for document in database[names.months].find({"_id": MONTHS}):
        yield Unit.of(document)
    for document in database[names.days].find({}):
        yield Unit.of(document)


class MongoRollups:
    """The rollup half of `service_layer.ports.Store`, and `service_layer.rollup_checks.RollupStore`,
    for one sales collection."""

    def __init__(self, database: Database[dict[str, Any]], sales: str, run: Run) -> None:
        self.database = database
        self.sales = sales
        self.months, self.days, self.checkpoint_collection = rollup_collections(sales)
        self.run = run

    def checkpoints(self, partitions: Sequence[int]) -> dict[int, Checkpoint]:
        """The checkpoints of these partitions that are recorded; those still in the earlier shape are
        moved into the one document first."""
        stored = self._partitions()
        if any(partition_field(p) not in stored for p in partitions) and self._move_earlier():
            stored = self._partitions()
        return {p: _checkpoint(p, stored[partition_field(p)]) for p in partitions if partition_field(p) in stored}

    def _partitions(self) -> dict[str, Any]:
        return self.database[self.checkpoint_collection].find_one({"_id": PARTITIONS}) or {}

    def _move_earlier(self) -> bool:
        """Move the checkpoints kept one document each into the one document (a partition recorded
        there meanwhile keeps what it has), then remove them; whether there were any."""
        collection = self.database[self.checkpoint_collection]
        earlier = [d for d in collection.find({"_id": EARLIER_CHECKPOINTS}) if "last" in d]
        for document in earlier:
            partition = int(str(document["_id"]).split(":", 1)[1])
            checkpoint = _checkpoint(partition, document)
            self.record_checkpoints([checkpoint], {}, moved_ok=True)
            collection.delete_one({"_id": document["_id"]})
        return bool(earlier)

    def record_checkpoints(
        self,
        checkpoints: Sequence[Checkpoint],
        expected: Mapping[int, int | None],
        extending: Collection[int] = (),
        *,
        moved_ok: bool = False,
    ) -> None:
        """One statement for all of them: each partition's checkpoint is set only if it is still the one
        `expected` says (None: not recorded) and, for those `extending` the deltas recorded, not sealed;
        otherwise none is, and `CheckpointMoved` is raised (unless `moved_ok`)."""
        if not checkpoints:
            return
        condition: dict[str, Any] = {"_id": PARTITIONS}
        fields: dict[str, Any] = {}
        for checkpoint in checkpoints:
            before = expected.get(checkpoint.partition)
            field = partition_field(checkpoint.partition)
            condition[f"{field}.last"] = _at(before)
            if checkpoint.partition in extending:
                condition[f"{field}.sealed"] = {"$exists": False}
            fields[field] = _stored(checkpoint)
        # Upserted only while every partition is new: the document may not be there yet.
        upsert = all(expected.get(c.partition) is None for c in checkpoints)
        update = {"q": condition, "u": {"$set": fields}, "upsert": upsert}
        reply = self.database.command({"update": self.checkpoint_collection, "updates": [update], "ordered": True})
        if (reply.get("writeErrors") or int(reply.get("n", 0)) != 1) and not moved_ok:
            raise CheckpointMoved(f"a checkpoint of partitions {sorted(expected)} moved meanwhile")

    def seal(self, checkpoints: Sequence[Checkpoint]) -> None:
        """One statement for all of them, each only if its partition's `last` is still the same."""
        if not checkpoints:
            return
        condition: dict[str, Any] = {"_id": PARTITIONS}
        for checkpoint in checkpoints:
            condition[f"{partition_field(checkpoint.partition)}.last"] = _at(checkpoint.last)
        fields = {f"{partition_field(c.partition)}.sealed": True for c in checkpoints}
        reply = self.database.command(
            {"update": self.checkpoint_collection, "updates": [{"q": condition, "u": {"$set": fields}}]}
        )
        if reply.get("writeErrors") or int(reply.get("n", 0)) != 1:
            raise CheckpointMoved(f"a checkpoint of partitions {sorted(c.partition for c in checkpoints)} moved")

    def add_to_buckets(self, checkpoints: Sequence[Checkpoint]) -> None:
        """Each month document and days document the checkpoints' deltas touch is read, given the
        deltas of each partition its watermark has not seen, and written back in one statement; a
        document another process wrote meanwhile is read again."""
        parts: dict[str, list[tuple[str, int, Buckets]]] = {}
        for checkpoint in checkpoints:
            by_unit: dict[str, Buckets] = {}
            for bucket, values in (checkpoint.pending or {}).items():
                by_unit.setdefault(document_id(bucket), {})[bucket] = values
            for unit, buckets in by_unit.items():
                parts.setdefault(unit, []).append((str(checkpoint.partition), checkpoint.last, buckets))

        def add_unseen(unit: Unit) -> bool:
            unseen = [(p, last, buckets) for p, last, buckets in parts[unit.id] if unit.wm.get(p, -1) < last]
            for partition, last, buckets in unseen:
                add(unit.buckets, buckets)
                unit.wm[partition] = max(unit.wm.get(partition, -1), last)
            return bool(unseen)

        self._change(parts, add_unseen)

    def _change(self, units: Iterable[str], change: Callable[[Unit], bool]) -> None:
        """Read these documents, let `change` alter each (True: it did), and write back those it
        changed under a compare-and-set on `rev`; a document written meanwhile is read and changed
        again."""
        waiting = set(units)
        while waiting:
            held = self._read(waiting)
            changed = [unit for unit in (held.get(u) or Unit(u) for u in sorted(waiting)) if change(unit)]
            waiting = self._write(changed)

    def _collection(self, unit: str) -> str:
        return self.months if unit.startswith("m:") else self.days

    def _read(self, units: Iterable[str]) -> dict[str, Unit]:
        wanted: dict[str, list[str]] = {}
        for unit in sorted(units):
            wanted.setdefault(self._collection(unit), []).append(unit)
        return {
            str(d["_id"]): Unit.of(d)
            for collection, ids in wanted.items()
            for d in self.database[collection].find({"_id": {"$in": ids}})
        }

    def _write(self, units: Sequence[Unit]) -> set[str]:
        """Store these documents (the months', then the days'), each only if its `rev` is still the
        one read; returns those that another process wrote meanwhile."""
        months = [unit for unit in units if unit.is_month]
        days = [unit for unit in units if not unit.is_month]
        return self._write_to(self.months, months) | self._write_to(self.days, days)

    def _write_to(self, collection: str, units: Sequence[Unit]) -> set[str]:
        """New documents in one insert, the others in one update of a statement each (all of them
        read again when any update missed: the command counts the matches, not which ones)."""
        new = [unit for unit in units if unit.rev is None]
        stored = [unit for unit in units if unit.rev is not None]
        missed = {new[i].id for i in self.run(collection, "insert", "documents", [u.document() for u in new])}
        if stored:
            reply = self.database.command(
                {
                    "update": collection,
                    "updates": [{"q": {"_id": u.id, "rev": Int64(u.rev or 0)}, "u": u.document()} for u in stored],
                    "ordered": False,
                }
            )
            if reply.get("writeErrors") or int(reply.get("n", 0)) != len(stored):
                missed.update(u.id for u in stored)
        return missed

    def replace_counters(self, buckets: Mapping[str, Counters], revs: Mapping[str, int | None]) -> list[str]:
        """A bucket with a `rev` given is replaced only if its document's `rev` is still that one
        (None: the bucket was absent and still is); a document written meanwhile is read again."""
        by_unit: dict[str, dict[str, Counters]] = {}
        for bucket, values in buckets.items():
            by_unit.setdefault(document_id(bucket), {})[bucket] = values
        moved: set[str] = set()

        def replace(unit: Unit) -> bool:
            replaced = False
            for bucket, values in by_unit[unit.id].items():
                if bucket in moved:
                    continue
                if bucket in revs and (bucket in unit.buckets if revs[bucket] is None else unit.rev != revs[bucket]):
                    moved.add(bucket)
                    continue
                if values:
                    unit.buckets[bucket] = dict(values)
                else:
                    unit.buckets.pop(bucket, None)
                replaced = True
            return replaced

        self._change(by_unit, replace)
        return sorted(moved)

    def set_checkpoints(self, offsets: Mapping[int, int]) -> None:
        """Checkpoints at these offsets with nothing pending (the buckets were built up to them)."""
        if offsets:
            fields = {partition_field(p): {"last": Int64(last)} for p, last in offsets.items()}
            self.database[self.checkpoint_collection].update_one({"_id": PARTITIONS}, {"$set": fields}, upsert=True)

    def stored_buckets(self) -> dict[str, Stored]:
        return {
            bucket: Stored(values, unit.rev or 0)
            for unit in stored_units(self.database, self.sales)
            for bucket, values in unit.buckets.items()
        }

    def all_checkpoints(self) -> list[Checkpoint]:
        self._move_earlier()
        return [
            _checkpoint(int(f[1:]), v) for f, v in self._partitions().items() if f.startswith("p") and f[1:].isdigit()
        ]

    def sales_on(self, day: str) -> Iterator[dict[str, Any]]:
        start = datetime.strptime(day[2:], "%Y-%m-%d").replace(tzinfo=UTC)
        yield from self.database[self.sales].find({"saleDate": {"$gte": start, "$lt": start + timedelta(days=1)}})

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
