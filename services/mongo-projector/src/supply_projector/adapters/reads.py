"""Reads of the copy: sales, pages, and analytics from the precomputed metadata.

FerretDB v1 computes only the first accumulator of a `$group` correctly (the others come back as
0), so every aggregation here has exactly one accumulator and measures are merged in Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from supply_common.contract import METADATA_FIELD, Sale, from_document
from supply_projector.adapters.mongo import FRESHNESS, PARKED, QUARANTINE, TOMBSTONES, ActiveCollection, MoneyModeOf
from supply_projector.domain import money
from supply_projector.domain.queries import Cursor, SortOrder, page_query

META = METADATA_FIELD


class SalesReader:
    def __init__(self, database: Database[dict[str, Any]], mode: MoneyModeOf, active: ActiveCollection) -> None:
        self.database = database
        self.mode = mode
        self.active = active

    def _sales(self) -> Any:
        return self.database[self.active.name()]

    def document(self, sale_id: str) -> dict[str, Any] | None:
        found = self._sales().find_one({"_id": ObjectId(sale_id)})
        return money.decode(found, self.mode()) if found is not None else None

    def version(self, sale_id: str) -> int | None:
        found = self._sales().find_one({"_id": ObjectId(sale_id)}, {f"{META}.version": 1})
        return int(found[META]["version"]) if found is not None else None

    def owner_and_version(self, sale_id: str) -> tuple[str | None, int] | None:
        """The customer's email and the version of a sale, without the rest of the document."""
        found = self._sales().find_one({"_id": ObjectId(sale_id)}, {"customer.email": 1, f"{META}.version": 1})
        if found is None:
            return None
        email = (found.get("customer") or {}).get("email")
        return (email if isinstance(email, str) else None), int(found[META]["version"])

    def applied(self, sale_id: str) -> dict[str, Any]:
        """What the copy holds of a sale's replication: the version applied, when the change was
        made and when it was applied; for a sale deleted in the copy, the delete's version and when
        it was applied. Each None when the copy holds nothing of it."""
        found = self._sales().find_one(
            {"_id": ObjectId(sale_id)},
            {f"{META}.version": 1, f"{META}.applied_at": 1, f"{META}.occurred_at": 1, f"{META}.event_id": 1},
        )
        meta = found.get(META, {}) if found is not None else {}
        tombstone = self.database[TOMBSTONES].find_one({"_id": sale_id}, {"version": 1, "deleted_at": 1}) or {}
        return {
            "version": int(meta["version"]) if "version" in meta else None,
            "applied_at": meta.get("applied_at"),
            "occurred_at": meta.get("occurred_at"),
            "event_id": meta.get("event_id"),
            "deleted_version": int(tombstone["version"]) if "version" in tombstone else None,
            "deleted_applied_at": tombstone.get("deleted_at"),
        }

    def deleted_version(self, sale_id: str) -> int | None:
        """The version of the sale's last delete, while the copy keeps its tombstone."""
        found = self.database[TOMBSTONES].find_one({"_id": sale_id}, {"version": 1})
        return int(found["version"]) if found is not None else None

    def page(
        self, base: dict[str, Any], sort: SortOrder, cursor: Cursor | None, limit: int
    ) -> tuple[list[dict[str, Any]], Cursor | None]:
        """A page and the cursor past it (None at the end)."""
        found, following, _ = self.page_both_ways(base, sort, cursor, limit)
        return found, following

    def page_both_ways(
        self, base: dict[str, Any], sort: SortOrder, cursor: Cursor | None, limit: int
    ) -> tuple[list[dict[str, Any]], Cursor | None, Cursor | None]:
        """A page, the cursor past it and the cursor before it (None where there is nothing)."""
        query, order = page_query(base, sort, cursor)
        found = [money.decode(doc, self.mode()) for doc in self._sales().find(query).sort(order).limit(limit + 1)]
        more = len(found) > limit
        found = found[:limit]
        backwards = cursor is not None and cursor.backwards
        if backwards:
            found.reverse()
        if not found:
            return found, None, None
        later = (cursor is not None and backwards) or more
        earlier = more if backwards else cursor is not None
        following = Cursor.of(found[-1], sort) if later else None
        preceding = Cursor.of(found[0], sort, backwards=True) if earlier else None
        return found, following, preceding

    def each(self, base: dict[str, Any], sort: SortOrder, batch: int = 500) -> Iterator[dict[str, Any]]:
        """Every sale of the match in order, read a page at a time (a page's cost each)."""
        cursor: Cursor | None = None
        while True:
            found, cursor = self.page(base, sort, cursor, batch)
            yield from found
            if cursor is None:
                return

    def cents_of(self, match: dict[str, Any], limit: int) -> list[int]:
        """The totals in cents of at most `limit` sales of the match, in no particular order."""
        found = self._sales().find(match, {f"{META}.total_cents": 1}).limit(limit)
        return [int(document[META]["total_cents"]) for document in found]

    def grouped(
        self, match: dict[str, Any], key: str | None, accumulator: Any, unwind: str | None = None
    ) -> dict[Any, int]:
        """One `$group` with one accumulator: {group key: value}."""
        pipeline: list[dict[str, Any]] = []
        if match:
            pipeline.append({"$match": match})
        if unwind:
            pipeline.append({"$unwind": f"${unwind}"})
            if "." in unwind and self.mode.unwind_moves_to_leaf():
                leaf = unwind.rsplit(".", 1)[1]
                key = _relocated(key, unwind, leaf)
                accumulator = {
                    op: f"${_relocated(value[1:], unwind, leaf)}"
                    if isinstance(value, str) and value.startswith("$")
                    else value
                    for op, value in accumulator.items()
                }
        pipeline.append({"$group": {"_id": f"${key}" if key else None, "value": accumulator}})
        return {row["_id"]: int(row["value"]) for row in self._sales().aggregate(pipeline)}

    def count(self, match: dict[str, Any], key: str | None = None) -> dict[Any, int]:
        return self.grouped(match, key, {"$count": {}})

    def total(
        self, match: dict[str, Any], field: str, key: str | None = None, unwind: str | None = None
    ) -> dict[Any, int]:
        return self.grouped(match, key, {"$sum": f"${field}"}, unwind)

    def quarantined(self) -> int:
        return int(self.database[QUARANTINE].count_documents({}))

    def parked(self) -> int:
        return int(self.database[PARKED].count_documents({}))

    def freshness(self, topic: str) -> dict[int, dict[str, Any]]:
        return {int(doc["partition"]): doc for doc in self.database[FRESHNESS].find({"topic": topic})}

    def ping(self) -> None:
        self.database.command("ping")


def _relocated(path: str | None, unwound: str, leaf: str) -> str | None:
    if path is not None and (path == unwound or path.startswith(unwound + ".")):
        return leaf + path[len(unwound) :]
    return path


def sale_of(document: dict[str, Any]) -> Sale:
    return from_document(document)
