"""Which server the copy is on (its money mode and quirks) and which collection holds the sales now."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database

from supply_projector.domain import money

SALES = "sales"
META = "projector_meta"
ACTIVE_KEY = "active_sales_collection"


def detect_money_mode(client: MongoClient[dict[str, Any]]) -> money.MoneyMode:
    """Decimal128 unless the server is FerretDB v1."""
    info = client.admin.command("buildInfo")
    ferret = str(info.get("ferretdbVersion") or "")
    return "double" if ferret.startswith("v1.") else "decimal128"


class ActiveCollection:
    """The name of the collection that holds the sales now, cached for `ttl_s`."""

    def __init__(self, database: Database[dict[str, Any]], ttl_s: float = 1.0, fixed: str | None = None) -> None:
        self.database = database
        self.ttl_s = ttl_s
        self.fixed = fixed
        self._name = SALES
        self._read_at = float("-inf")

    def name(self) -> str:
        if self.fixed is not None:
            return self.fixed
        now = time.monotonic()
        if now - self._read_at > self.ttl_s:
            found = self.database[META].find_one({"_id": ACTIVE_KEY})
            self._name = str(found["collection"]) if found else SALES
            self._read_at = now
        return self._name

    def point_to(self, collection: str) -> None:
        self.database[META].update_one(
            {"_id": ACTIVE_KEY}, {"$set": {"collection": collection, "since": datetime.now(UTC)}}, upsert=True
        )
        self._read_at = float("-inf")


class MoneyModeOf:
    """The server's money mode and quirks, asked once on first use (so a process can start before
    the server)."""

    def __init__(self, client: MongoClient[dict[str, Any]], configured: str = "auto") -> None:
        self.client = client
        self._mode: money.MoneyMode | None = None if configured == "auto" else configured  # type: ignore[assignment]
        self._ferretdb_v1: bool | None = None
        self._in_scans: bool | None = None

    def __call__(self) -> money.MoneyMode:
        if self._mode is None:
            self._mode = detect_money_mode(self.client)
        return self._mode

    def ferretdb_v1(self) -> bool:
        if self._ferretdb_v1 is None:
            info = self.client.admin.command("buildInfo")
            self._ferretdb_v1 = str(info.get("ferretdbVersion") or "").startswith("v1.")
        return self._ferretdb_v1

    def unwind_moves_to_leaf(self) -> bool:
        """FerretDB v1 puts the element of `$unwind: "$a.b"` at `b` (MongoDB keeps it at `a.b`)."""
        return self.ferretdb_v1()

    def in_query_scans(self, collection: Collection[dict[str, Any]]) -> bool:
        """Whether `_id: {$in: [...]}` on `collection` reads the whole collection: FerretDB v1 does
        unless its SQLite backend pushes `$in` down (deploy/local/ferretdb's patch series), which its
        `explain` tells. The answer is kept once a collection that exists was asked (on one that does
        not, FerretDB pushes nothing down, not even a lone `_id`)."""
        if self._in_scans is not None:
            return self._in_scans
        if not self.ferretdb_v1():
            self._in_scans = False
            return False
        probe = ObjectId()
        if not _pushed_down(collection, {"_id": probe}):
            return True
        self._in_scans = not _pushed_down(collection, {"_id": {"$in": [probe]}})
        return self._in_scans


def _pushed_down(collection: Collection[dict[str, Any]], query: dict[str, Any]) -> bool:
    answer = collection.database.command("explain", {"find": collection.name, "filter": query})
    return bool(answer.get("filterPushdown"))
