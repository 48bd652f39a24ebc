"""The rollups beside a sales collection: month buckets (and the marker of complete rollups) in
`<sales>_rollups`, day buckets and the partitions' checkpoints in `<sales>_rollup_days` (they follow
the sales collection through a rebuild's swap, as the alias names it).

On FerretDB v1 only a filter with an `_id` equality reaches SQLite's index, and every statement of
an `update` costs about a round trip inside the server: checkpoints and day buckets are read one
`_id` at a time, a batch writes one statement per bucket it changes, and the month collection,
which stays small (one document per month of sales; a checkpoint's pending deltas can be large, so
they are kept with the days), is read whole. A bucket write filters on `_id` and the watermark,
which FerretDB serves through the `_id` index too. A checkpoint's pending deltas are kept as one
JSON string (`{bucket: {path: value}}`): FerretDB v1 encodes, stores and decodes every element of a
document's arrays and subdocuments on each write, while a string is one value, and a string holds
any name (field names cannot hold `.` or `$`). Checkpoints written as `[{b: bucket, k: [paths],
v: [values]}]` by earlier versions are still read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from bson.int64 import Int64
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from supply_projector.domain.rollups import Buckets, Counters
from supply_projector.service_layer.ports import Checkpoint, CheckpointMoved
from supply_projector.service_layer.rollup_checks import Stored

MONTHS_SUFFIX = "_rollups"
DAYS_SUFFIX = "_rollup_days"
BUILT = "built"
"""The marker of rollups that cover the whole copy: `{state: building | built, owner, at}`."""
Run = Callable[[str, str, str, list[dict[str, Any]]], list[int]]
"""Runs an unordered write command to completion; returns the indexes refused as duplicate keys."""


def rollup_collections(sales: str) -> tuple[str, str]:
    """The month (and checkpoint) collection and the day collection of a sales collection."""
    return sales + MONTHS_SUFFIX, sales + DAYS_SUFFIX


def checkpoint_id(partition: int) -> str:
    return f"checkpoint:{partition}"


def flatten(document: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, int]]:
    """The counters of a stored bucket as flat paths (the watermarks and `_id` left out)."""
    for name, value in document.items():
        if not prefix and name in ("_id", "wm", "rev", "state", "owner", "at"):
            continue
        path = f"{prefix}{name}"
        if isinstance(value, Mapping):
            yield from flatten(value, path + ".")
        elif isinstance(value, int) and not isinstance(value, bool):
            yield path, int(value)


def counters_of(document: Mapping[str, Any]) -> Counters:
    return {path: value for path, value in flatten(document) if value}


def _pending_document(pending: Buckets) -> str:
    return json.dumps(pending, sort_keys=True, separators=(",", ":"))


def _pending_of(stored: Any) -> Buckets | None:
    if stored is None:
        return None
    if isinstance(stored, str):
        return {bucket: {path: int(v) for path, v in values.items()} for bucket, values in json.loads(stored).items()}
    return {entry["b"]: dict(zip(entry["k"], (int(v) for v in entry["v"]), strict=True)) for entry in stored}


def _each(work: Callable[..., list[Any]], calls: Iterable[tuple[Any, ...]]) -> list[list[Any]]:
    """`work(*call)` for each call, the month and the day collections' commands side by side: the
    server decodes, changes and encodes one while it writes the other."""
    calls = list(calls)
    if len(calls) < 2:
        return [work(*call) for call in calls]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: work(*call), calls))


class MongoRollups:
    """The rollup half of `service_layer.ports.Store`, and `service_layer.rollup_checks.RollupStore`,
    for one sales collection."""

    def __init__(self, database: Database[dict[str, Any]], sales: str, run: Run, known: set[str] | None = None) -> None:
        self.database = database
        self.sales = sales
        self.months, self.days = rollup_collections(sales)
        self.run = run
        self.known = known if known is not None else set()
        """Buckets known to exist (they are never removed but with their whole copy)."""

    def checkpoints(self, partitions: Sequence[int]) -> dict[int, Checkpoint]:
        collection = self.database[self.days]
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
        reply = self.database.command({"update": self.days, "updates": updates, "ordered": True})
        if reply.get("writeErrors") or int(reply.get("n", 0)) != len(updates):
            raise CheckpointMoved(f"a checkpoint of partitions {sorted(expected)} moved meanwhile")

    def add_to_buckets(self, checkpoints: Sequence[Checkpoint]) -> None:
        """One statement per bucket for all the batch's partitions; a bucket that has one partition's
        deltas already refuses it (a duplicate key: its watermark filter does not match, and the
        upsert's insert meets the bucket), and is then given each partition's deltas alone."""
        parts: dict[str, list[tuple[int, int, Counters]]] = {}
        for checkpoint in checkpoints:
            for bucket, values in (checkpoint.pending or {}).items():
                parts.setdefault(bucket, []).append((checkpoint.partition, checkpoint.last, values))
        combined = sorted(parts.items())
        fresh = [write for write in combined if write[0] not in self.known]
        if fresh:
            # A bucket not seen yet is most likely new (a backlog spread over many days): one insert
            # for all of them costs far less than one upsert statement each on FerretDB v1.
            there = set(self._insert([write for write in fresh]))
            self.known.update(bucket for bucket, _ in fresh)
            combined = [write for write in combined if write[0] not in {b for b, _ in fresh} or write[0] in there]
        refused = self._add(combined)
        alone = [
            (bucket, [part])
            for bucket, several in (combined[i] for i in refused)
            if len(several) > 1
            for part in several
        ]
        if alone:
            self._add(alone)

    def _insert(self, writes: Sequence[tuple[str, list[tuple[int, int, Counters]]]]) -> list[str]:
        """Insert buckets with these deltas; returns those that were there already."""

        def insert(collection: str) -> list[str]:
            mine = [(b, several) for b, several in writes if (b.startswith("m:")) == (collection == self.months)]
            documents = []
            for bucket, several in mine:
                document: dict[str, Any] = {"_id": bucket, "rev": Int64(1)}
                document["wm"] = {str(p): Int64(last) for p, last, _ in several}
                summed: Counters = {}
                for _, _, values in several:
                    for path, value in values.items():
                        summed[path] = summed.get(path, 0) + value
                for path, value in summed.items():
                    place = document
                    *parents, leaf = path.split(".")
                    for parent in parents:
                        place = place.setdefault(parent, {})
                    place[leaf] = Int64(value)
                documents.append(document)
            if not documents:
                return []
            return [mine[i][0] for i in self.run(collection, "insert", "documents", documents)]

        return [bucket for found in _each(insert, [(self.months,), (self.days,)]) for bucket in found]

    def _add(self, writes: Sequence[tuple[str, list[tuple[int, int, Counters]]]]) -> list[int]:
        """Returns the indexes of the writes refused (the bucket has some of the deltas)."""
        by_collection: dict[str, list[int]] = {}
        for index, (bucket, _) in enumerate(writes):
            by_collection.setdefault(self.months if bucket.startswith("m:") else self.days, []).append(index)

        def run(collection: str, indexes: list[int]) -> list[int]:
            entries = []
            for index in indexes:
                bucket, several = writes[index]
                increments: dict[str, Any] = {"rev": Int64(1)}
                for _, _, values in several:
                    for path, value in values.items():
                        increments[path] = Int64(int(increments.get(path, 0)) + value)
                entries.append(
                    {
                        "q": {"_id": bucket} | {f"wm.{p}": {"$not": {"$gte": Int64(last)}} for p, last, _ in several},
                        "u": {"$inc": increments, "$set": {f"wm.{p}": Int64(last) for p, last, _ in several}},
                        "upsert": True,
                    }
                )
            return [indexes[i] for i in self.run(collection, "update", "updates", entries)]

        refused = [index for found in _each(run, by_collection.items()) for index in found]
        self.known.update(bucket for bucket, _ in writes)
        return refused

    def _collection_of(self, bucket: str) -> Any:
        return self.database[self.months if bucket.startswith("m:") else self.days]

    def replace_counters(self, buckets: Mapping[str, Counters], revs: Mapping[str, int | None]) -> list[str]:
        moved = []
        for bucket, values in buckets.items():
            collection = self._collection_of(bucket)
            held = collection.find_one({"_id": bucket}, {"wm": 1, "rev": 1}) or {}
            rev = int(held.get("rev", 0))
            nested: dict[str, Any] = {"wm": held.get("wm", {}), "rev": Int64(rev + 1)}
            for path, value in values.items():
                place = nested
                *parents, leaf = path.split(".")
                for parent in parents:
                    place = place.setdefault(parent, {})
                place[leaf] = Int64(value)
            if bucket not in revs:
                collection.replace_one({"_id": bucket}, nested, upsert=True)
            elif revs[bucket] is None:
                try:
                    collection.insert_one({"_id": bucket, **nested})
                except DuplicateKeyError:
                    moved.append(bucket)
            elif collection.replace_one({"_id": bucket, "rev": Int64(revs[bucket] or 0)}, nested).matched_count == 0:
                moved.append(bucket)
        return moved

    def set_checkpoints(self, offsets: Mapping[int, int]) -> None:
        """Checkpoints at these offsets with nothing pending (the buckets were built up to them)."""
        collection = self.database[self.days]
        for partition, last in offsets.items():
            collection.replace_one({"_id": checkpoint_id(partition)}, {"last": Int64(last)}, upsert=True)

    def stored_buckets(self) -> dict[str, Stored]:
        found = {}
        for name in (self.months, self.days):
            for document in self.database[name].find({}):
                if str(document["_id"]).startswith(("m:", "d:")):
                    found[str(document["_id"])] = Stored(counters_of(document), int(document.get("rev", 0)))
        return found

    def finish_pending(self) -> int:
        checkpoints = [
            Checkpoint(int(str(d["_id"]).split(":", 1)[1]), int(d["last"]), _pending_of(d.get("pending")))
            for d in self.database[self.days].find({})
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


class RollupReader:
    """The buckets analytics read, and the sales of the partial days at a window's edges."""

    def __init__(
        self,
        database: Database[dict[str, Any]],
        active: Callable[[], str],
        one_by_one: Callable[[Collection[dict[str, Any]]], bool],
    ) -> None:
        self.database = database
        self.active = active
        self.one_by_one = one_by_one

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
        for document in self.database[months].find({}):
            bucket = str(document["_id"])
            if bucket.startswith("m:") and (first is None or bucket >= first) and (end is None or bucket < end):
                found[bucket] = counters_of(document)
        return found

    def days(self, buckets: Sequence[str]) -> dict[str, Counters]:
        _, days = rollup_collections(self.active())
        collection = self.database[days]
        if not buckets:
            return {}
        if not self.one_by_one(collection):
            return {str(d["_id"]): counters_of(d) for d in collection.find({"_id": {"$in": list(buckets)}})}

        def one(bucket: str) -> tuple[str, dict[str, Any] | None]:
            return bucket, collection.find_one({"_id": bucket})

        with ThreadPoolExecutor(max_workers=8) as pool:
            return {bucket: counters_of(d) for bucket, d in pool.map(one, buckets) if d is not None}

    def sales_between(self, start: datetime, end: datetime | None) -> list[dict[str, Any]]:
        """The documents of the sales dated in `[start, end)` (part of one day)."""
        bounds: dict[str, Any] = {"$gte": start}
        if end is not None:
            bounds["$lt"] = end
        return list(self.database[self.active()].find({"saleDate": bounds}))
