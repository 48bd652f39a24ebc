"""Word search for documents written by an earlier version: each document gets its item names
(`_supply.names`) and loses the fields earlier versions searched and summed with (`item_keys`,
`tag_keys`, `lines`), under the version it holds, so that a newer version applied meanwhile (which
brings its own fields) is never given an older one's; and the words lookup gets every name and
tag of the copy, then its `filled` marker. A consumer runs it beside consuming when the lookup has
no marker (a word search finds the sales it has passed; it starts over after a stop: the documents
done are only read again); `mongo-projector backfill-search` runs it on demand."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from supply_common.contract import METADATA_FIELD
from supply_projector.adapters.words import MongoWords, names_of

log = logging.getLogger(__name__)

VERSION = f"{METADATA_FIELD}.version"
EARLIER_FIELDS = ("item_keys", "tag_keys", "lines")


def update_of(document: dict[str, Any]) -> dict[str, Any] | None:
    """The update that gives a document this version's search fields (None: it has them)."""
    meta = document.get(METADATA_FIELD) or {}
    names = names_of(document)["item"]
    stale = [field for field in EARLIER_FIELDS if field in meta]
    if meta.get("names") == names and not stale:
        return None
    update: dict[str, Any] = {"$set": {f"{METADATA_FIELD}.names": names}}
    if stale:
        update["$unset"] = {f"{METADATA_FIELD}.{field}": "" for field in stale}
    return update


def backfill_search(
    database: Database[dict[str, Any]],
    collection: str,
    words: MongoWords,
    batch: int = 500,
    progress: Callable[[int, int], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> int | None:
    """Walk the collection in `_id` order, a batch at a time; how many documents were updated (None:
    `stop` said to stop first, and the lookup is not marked filled). `progress(seen, updated)` after
    each batch."""
    sales = database[collection]
    words.forget()
    fields = ("version", "names", *EARLIER_FIELDS)
    projection = {"items.name": 1, "items.tags": 1, **{f"{METADATA_FIELD}.{field}": 1 for field in fields}}
    after: ObjectId | None = None
    seen = updated = 0
    while True:
        if stop():
            return None
        query = {} if after is None else {"_id": {"$gt": after}}
        page = list(sales.find(query, projection).sort("_id", 1).limit(batch))
        if not page:
            break
        after = page[-1]["_id"]
        seen += len(page)
        words.record(page)
        updates = []
        for document in page:
            update = update_of(document)
            version = (document.get(METADATA_FIELD) or {}).get("version")
            if update is not None and version is not None:
                updates.append({"q": {"_id": document["_id"], VERSION: version}, "u": update})
        if updates:
            reply = database.command({"update": collection, "updates": updates, "ordered": False})
            updated += int(reply.get("nModified", reply.get("n", 0)))
        if progress is not None:
            progress(seen, updated)
    words.mark_filled()
    return updated


def fill_words_if_needed(
    database: Database[dict[str, Any]], collection: str, words: MongoWords, stop: Callable[[], bool] = lambda: False
) -> None:
    """Beside a consumer: a copy whose words lookup has no `filled` marker is walked once (at once for
    a new copy: there is nothing to walk)."""
    if words.filled():
        return
    started = time.monotonic()
    last = [started]

    def report(seen: int, updated: int) -> None:
        if time.monotonic() - last[0] >= 5:
            last[0] = time.monotonic()
            log.info("filling the words lookup", extra={"collection": collection, "seen": seen, "updated": updated})

    updated = backfill_search(database, collection, words, progress=report, stop=stop)
    if updated is None:
        log.info("filling the words lookup stopped; the next start goes on", extra={"collection": collection})
        return
    log.info(
        "words lookup filled",
        extra={"collection": collection, "updated": updated, "seconds": round(time.monotonic() - started, 1)},
    )
