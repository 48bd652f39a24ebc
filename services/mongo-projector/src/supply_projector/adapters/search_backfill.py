"""Search keys for documents written before the projector wrote them: computed from each document's
own items and set under the version the document holds, so that a newer version applied meanwhile
(which brings its own keys) is never given an older one's."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.database import Database

from supply_common.contract import METADATA_FIELD
from supply_projector.domain.search import search_keys

VERSION = f"{METADATA_FIELD}.version"


def missing_keys(document: dict[str, Any]) -> dict[str, list[str]] | None:
    """The keys a document lacks or holds out of date (None: it holds the right ones)."""
    items = [item for item in document.get("items") or [] if isinstance(item, dict)]
    wanted = search_keys(
        (str(item.get("name", "")) for item in items), (str(tag) for item in items for tag in item.get("tags") or [])
    )
    held = document.get(METADATA_FIELD) or {}
    return None if all(held.get(field) == keys for field, keys in wanted.items()) else wanted


def backfill_search_keys(database: Database[dict[str, Any]], collection: str, batch: int = 500) -> int:
    """Walk the collection in `_id` order, a batch at a time; how many documents got keys."""
    sales = database[collection]
    projection = {"items.name": 1, "items.tags": 1, METADATA_FIELD: 1}
    after: ObjectId | None = None
    updated = 0
    while True:
        query = {} if after is None else {"_id": {"$gt": after}}
        page = list(sales.find(query, projection).sort("_id", 1).limit(batch))
        if not page:
            return updated
        after = page[-1]["_id"]
        updates = []
        for document in page:
            keys = missing_keys(document)
            version = (document.get(METADATA_FIELD) or {}).get("version")
            if keys is not None and version is not None:
                fields = {f"{METADATA_FIELD}.{field}": value for field, value in keys.items()}
                updates.append({"q": {"_id": document["_id"], VERSION: version}, "u": {"$set": fields}})
        if updates:
            reply = database.command({"update": collection, "updates": updates, "ordered": False})
            updated += int(reply.get("nModified", reply.get("n", 0)))
