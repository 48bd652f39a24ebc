"""The MongoDB copy: the sales collection and its side collections, on MongoDB 7 or FerretDB v1.

FerretDB v1 facts this adapter works around (checked against v1.24):
- no Decimal128 (see `domain.money`);
- an unordered write batch stops at its first error and the reply then omits `n`, so the raw
  `update`/`insert`/`delete` commands are used and everything after a failed write is resubmitted
  (every write is version-guarded, so a resubmission changes nothing that was already applied);
- single updates are slow while inserts are fast: absent sales are inserted, present ones replaced
  under the version guard. Current versions are read first: one `$in` query on MongoDB; on
  FerretDB v1, which answers `$in` with a full scan, one `_id` lookup per sale (8 at a time);
- `renameCollection` has no `dropTarget`: the active sales collection is named by an alias
  document that readers and writers follow (see `active_collection`);
- secondary indexes are kept only where the server reads through them (`adapters.indexes`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import bson
from bson import ObjectId
from bson.errors import BSONError
from bson.int64 import Int64
from pymongo import ASCENDING, MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure, WriteError

from supply_common.contract import METADATA_FIELD
from supply_projector.adapters.indexes import ensure_sale_indexes
from supply_projector.adapters.rollups import MongoRollups
from supply_projector.adapters.search_backfill import fill_words_if_needed
from supply_projector.adapters.server import ActiveCollection, MoneyModeOf
from supply_projector.adapters.words import MongoWords
from supply_projector.domain import money
from supply_projector.domain.changes import Delete, Op, Write, verdict
from supply_projector.domain.search import Field
from supply_projector.service_layer.ports import Checkpoint, Executed, Parked, Progress, Unstorable

log = logging.getLogger(__name__)

TOMBSTONES = "sale_tombstones"
QUARANTINE = "sale_quarantine"
PARKED = "parked_events"
FRESHNESS = "projector_freshness"
VERSION = f"{METADATA_FIELD}.version"
DUPLICATE_KEY = 11000


def connect(url: str, timeout_ms: int = 5000) -> MongoClient[dict[str, Any]]:
    return MongoClient(
        url,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=120_000,
        uuidRepresentation="standard",
    )


class MongoStore:
    """Implements `service_layer.ports.Store`."""

    def __init__(
        self,
        database: Database[dict[str, Any]],
        mode: MoneyModeOf,
        active: ActiveCollection | None = None,
        known_words: dict[str, set[tuple[Field, str]]] | None = None,
    ) -> None:
        self.database = database
        self.mode = mode
        self.active = active or ActiveCollection(database)
        self._known_words: dict[str, set[tuple[Field, str]]] = known_words if known_words is not None else {}

    def ensure_indexes(self) -> None:
        ensure_sale_indexes(self.database, self.active.name())
        self.database[TOMBSTONES].create_index([("deleted_at", ASCENDING)])
        self.database[PARKED].create_index([("sale_id", ASCENDING)])

    def upgrade_search(self, stop: Callable[[], bool] = lambda: False) -> None:
        """A copy written by an earlier version gets this version's search fields and words lookup
        (`adapters.search_backfill`), until `stop` says to stop; nothing to do for any other."""
        pinned = self.pinned()
        fill_words_if_needed(self.database, pinned.collection(), pinned.words(), stop)

    def words(self) -> MongoWords:
        return MongoWords(self.database, self.active.name, self._run, self._known_words)

    def versions(self, sale_ids: Sequence[str]) -> dict[str, int] | None:
        if not sale_ids:
            return {}
        if self.mode.in_query_scans(self.database[self.active.name()]):
            return self._versions_one_by_one(sale_ids)
        found = self.database[self.active.name()].find({"_id": {"$in": [ObjectId(i) for i in sale_ids]}}, {VERSION: 1})
        return {str(doc["_id"]): int(doc.get(METADATA_FIELD, {}).get("version", 0)) for doc in found}

    def _versions_one_by_one(self, sale_ids: Sequence[str]) -> dict[str, int]:
        collection = self.database[self.active.name()]

        def one(sale_id: str) -> tuple[str, int | None]:
            found = collection.find_one({"_id": ObjectId(sale_id)}, {VERSION: 1})
            return sale_id, None if found is None else int(found.get(METADATA_FIELD, {}).get("version", 0))

        with ThreadPoolExecutor(max_workers=8) as pool:
            return {sale_id: version for sale_id, version in pool.map(one, sale_ids) if version is not None}

    def pinned(self) -> MongoStore:
        fixed = ActiveCollection(self.database, fixed=self.active.name())
        return MongoStore(self.database, self.mode, fixed, self._known_words)

    def collection(self) -> str:
        return self.active.name()

    def documents(self, sale_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Whole documents, read like `versions` (their rollup contributions are needed too)."""
        if not sale_ids:
            return {}
        collection = self.database[self.active.name()]
        if not self.mode.in_query_scans(collection):
            return {str(doc["_id"]): doc for doc in collection.find({"_id": {"$in": [ObjectId(i) for i in sale_ids]}})}

        def one(sale_id: str) -> tuple[str, dict[str, Any] | None]:
            return sale_id, collection.find_one({"_id": ObjectId(sale_id)})

        with ThreadPoolExecutor(max_workers=8) as pool:
            return {sale_id: doc for sale_id, doc in pool.map(one, sale_ids) if doc is not None}

    def rollups(self) -> MongoRollups:
        name = self.active.name()
        return MongoRollups(self.database, name, self._run)

    def checkpoints(self, partitions: Sequence[int]) -> dict[int, Checkpoint]:
        return self.rollups().checkpoints(partitions) if partitions else {}

    def record_checkpoints(
        self, checkpoints: Sequence[Checkpoint], expected: Mapping[int, int | None], extending: Collection[int] = ()
    ) -> None:
        self.rollups().record_checkpoints(checkpoints, expected, extending)

    def seal(self, checkpoints: Sequence[Checkpoint]) -> None:
        self.rollups().seal(checkpoints)

    def add_to_buckets(self, checkpoints: Sequence[Checkpoint]) -> None:
        self.rollups().add_to_buckets(checkpoints)

    def tombstones(self, sale_ids: Sequence[str]) -> dict[str, int]:
        if not sale_ids:
            return {}
        found = self.database[TOMBSTONES].find({"_id": {"$in": list(sale_ids)}}, {"version": 1})
        return {str(doc["_id"]): int(doc["version"]) for doc in found}

    def execute(self, ops: Sequence[Op]) -> Executed:
        """Raises `Unstorable` naming the writes that do not encode (the driver refuses the whole
        command for one such document, before sending it); the others may have been carried out.
        The words lookup gets the names of the written sales first (`adapters.words`)."""
        self.words().record(op.change.document for op in ops if isinstance(op, Write) and op.change.document)
        try:
            return self._execute(ops)
        except (BSONError, OverflowError) as exc:
            refused = self._unencodable(ops)
            if not refused:
                raise
            raise Unstorable(refused) from exc

    def _unencodable(self, ops: Sequence[Op]) -> dict[str, str]:
        """The writes whose document or version do not encode, with the reason. Looked for only once a
        command failed to encode, so a batch that encodes is encoded once."""
        refused: dict[str, str] = {}
        for op in ops:
            try:
                document = self._encoded(op) if isinstance(op, Write) else None
                bson.encode({"document": document, "version": op.change.version})
            except (BSONError, OverflowError) as exc:
                refused[op.change.sale_id] = f"{type(exc).__name__}: {exc}"[:1000]
        return refused

    def _execute(self, ops: Sequence[Op]) -> Executed:
        collection = self.active.name()
        now = datetime.now(UTC)
        inserts = [op for op in ops if isinstance(op, Write) and not op.exists]
        replaces = [op for op in ops if isinstance(op, Write) and op.exists]
        deletes = [op for op in ops if isinstance(op, Delete)]
        inserted = stale = 0
        if inserts:
            inserted, clashed, stale = self._insert(collection, inserts)
            replaces.extend(clashed)
        replaced = 0
        if replaces:
            updates = [self._guarded_replace(op) for op in replaces]
            refused = len(self._run(collection, "update", "updates", updates))
            stale += refused
            replaced = len(replaces) - refused
        if deletes:
            marks = [
                {
                    "q": {"_id": op.change.sale_id},
                    "u": {"$max": {"version": Int64(op.change.version)}, "$set": {"deleted_at": now}},
                    "upsert": True,
                }
                for op in deletes
            ]
            self._run(TOMBSTONES, "update", "updates", marks, retry_duplicates=True)
            removals = [
                {"q": {"_id": ObjectId(op.change.sale_id), VERSION: {"$lt": op.change.version}}, "limit": 1}
                for op in deletes
                if op.remove_document
            ]
            if removals:
                self._run(collection, "delete", "deletes", removals)
        return Executed(written=inserted + replaced, deleted=len(deletes), stale=stale)

    def _insert(self, collection: str, ops: list[Write]) -> tuple[int, list[Write], int]:
        """Insert documents believed absent. Returns how many went in, the writes to retry as
        version-guarded replaces (the sale was there, older) and how many were stale.

        A refused insert usually means a replay (a restarted consumer re-reads its uncommitted
        batch), so the rest of the batch is probably there too: rather than resubmitting after each
        refusal (FerretDB v1 stops at the first one), the versions of every unsettled sale are read
        once and each is sorted into insert, replace or stale."""
        reply = self.database.command(
            {"insert": collection, "documents": [self._encoded(op) for op in ops], "ordered": False}
        )
        errors = reply.get("writeErrors") or []
        if not errors:
            return len(ops), [], 0
        _raise_unless_duplicates(errors)
        failed = sorted(int(error["index"]) for error in errors)
        tried_all = "n" in reply and int(reply["n"]) + len(errors) >= len(ops)
        unsettled = [ops[i] for i in failed] if tried_all else ops[failed[0] :]
        inserted = len(ops) - len(unsettled)
        held = self.versions([op.change.sale_id for op in unsettled]) or {}
        absent: list[Write] = []
        replaces: list[Write] = []
        stale = 0
        for op in unsettled:
            version = held.get(op.change.sale_id)
            if version is None:
                absent.append(op)
            elif verdict(op.change, version, None) == "write":
                replaces.append(Write(op.change, exists=True, inclusive=op.inclusive))
            else:
                stale += 1
        if absent:
            clashed = self._run(collection, "insert", "documents", [self._encoded(op) for op in absent])
            inserted += len(absent) - len(clashed)
            replaces.extend(Write(absent[i].change, exists=True, inclusive=absent[i].inclusive) for i in clashed)
        return inserted, replaces, stale

    def _encoded(self, op: Write) -> dict[str, Any]:
        assert op.change.document is not None
        return money.encode(op.change.document, self.mode())

    def _guarded_replace(self, op: Write) -> dict[str, Any]:
        guard = "$lte" if op.inclusive else "$lt"
        replacement = {k: v for k, v in self._encoded(op).items() if k != "_id"}
        return {
            "q": {"_id": ObjectId(op.change.sale_id), VERSION: {guard: op.change.version}},
            "u": replacement,
            "upsert": True,
        }

    def _run(
        self, collection: str, command: str, key: str, entries: list[dict[str, Any]], retry_duplicates: bool = False
    ) -> list[int]:
        """Run an unordered write command to completion; return the indexes refused as duplicate keys
        (a newer or equal version already there). Other write errors raise."""
        pending = list(range(len(entries)))
        duplicates: list[int] = []
        attempts = 0
        while pending:
            reply = self.database.command({command: collection, key: [entries[i] for i in pending], "ordered": False})
            errors = reply.get("writeErrors") or []
            if not errors:
                break
            _raise_unless_duplicates(errors)
            failed = sorted(int(error["index"]) for error in errors)
            if retry_duplicates:
                attempts += 1
                if attempts > 5:
                    raise WriteError("duplicate key persists", DUPLICATE_KEY, errors[0])
                pending = pending[failed[0] :]
                continue
            duplicates.extend(pending[i] for i in failed)
            if "n" in reply and int(reply["n"]) + len(errors) >= len(pending):
                break
            refused = set(failed)
            pending = [pending[i] for i in range(failed[0] + 1, len(pending)) if i not in refused]
        return duplicates

    def quarantined(self, sale_ids: Iterable[str]) -> set[str]:
        ids = list(sale_ids)
        if not ids:
            return set()
        return {str(doc["_id"]) for doc in self.database[QUARANTINE].find({"_id": {"$in": ids}}, {"_id": 1})}

    def update_quarantine(self, added: dict[str, str], lifted: set[str]) -> None:
        now = datetime.now(UTC)
        for sale_id, reason in added.items():
            self.database[QUARANTINE].update_one(
                {"_id": sale_id}, {"$set": {"reason": reason[:500], "since": now}}, upsert=True
            )
        if lifted:
            self.database[QUARANTINE].delete_many({"_id": {"$in": sorted(lifted)}})
            self.database[PARKED].delete_many({"sale_id": {"$in": sorted(lifted)}})

    def park(self, parked: Sequence[Parked]) -> None:
        now = datetime.now(UTC)
        for item in parked:
            record = item.record
            self.database[PARKED].update_one(
                {"_id": f"{record.topic}:{record.partition}:{record.offset}"},
                {
                    "$set": {
                        "sale_id": item.sale_id,
                        "topic": record.topic,
                        "partition": record.partition,
                        "offset": Int64(record.offset),
                        "key": record.key,
                        "value": record.value,
                        "parked_at": now,
                    }
                },
                upsert=True,
            )

    def record_progress(self, progress: Sequence[Progress]) -> None:
        """One `update` command for every partition of the batch (one round trip, not one each).
        `$max` keeps offset and `last_occurred_at` monotonic (FerretDB v1 has `$max` for dates, and
        a date is above a null left by an earlier version); a position without `last_occurred_at`
        (only poison applied) leaves the one recorded."""
        now = datetime.now(UTC)
        updates = []
        for item in progress:
            highest: dict[str, Any] = {"offset": Int64(item.offset)}
            if item.last_occurred_at is not None:
                highest["last_occurred_at"] = item.last_occurred_at
            updates.append(
                {
                    "q": {"_id": f"{item.topic}:{item.partition}"},
                    "u": {
                        "$set": {"topic": item.topic, "partition": item.partition, "updated_at": now},
                        "$max": highest,
                    },
                    "upsert": True,
                }
            )
        if updates:
            self._run(FRESHNESS, "update", "updates", updates, retry_duplicates=True)

    def purge_tombstones(self, retention: timedelta) -> int:
        cutoff = datetime.now(UTC) - retention
        return int(self.database[TOMBSTONES].delete_many({"deleted_at": {"$lt": cutoff}}).deleted_count)

    def ping(self) -> None:
        self.database.command("ping")


def _raise_unless_duplicates(errors: list[dict[str, Any]]) -> None:
    for error in errors:
        if error.get("code") != DUPLICATE_KEY:
            raise WriteError(error.get("errmsg", "write error"), error.get("code"), error)


def is_not_implemented(error: OperationFailure) -> bool:
    return error.code in (115, 238) or "not implemented" in str(error).lower()
