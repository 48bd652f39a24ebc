"""The sales collection's secondary indexes: the read API's filters and sorts, where the server reads
through them.

On SQLite, FerretDB as released answers every filter but one on `_id` by scanning the collection in
its own process (`explain` says `filterPushdown: false`): secondary indexes serve no read and only
cost writes, so none is kept there. The build of deploy/local pushes comparisons on indexed fields
and the first page of a sort down to SQLite (deploy/local/README.md).
"""

from __future__ import annotations

import logging
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import CollectionInvalid, OperationFailure

from supply_common.contract import METADATA_FIELD

log = logging.getLogger(__name__)

VERSION = f"{METADATA_FIELD}.version"
NEWEST = (("saleDate", ASCENDING), ("_id", ASCENDING))
TOTAL = f"{METADATA_FIELD}.total_cents"
# Every filter of the read API, each followed by its sort (saleDate, then _id), so that a page is read
# in index order on MongoDB (equality, sort, range) and FerretDB's SQLite finds the page's last date from
# the index alone. `names` and `tags` are arrays (a multikey index on MongoDB; on FerretDB's SQLite an
# equality with an element is pushed down exactly, found by walking the date index: see
# deploy/local/README.md). The sorts by store and by total start with the store's and the total's index
# (the total's in its sorts' order: total, then _id). A total range with the newest first is the one
# search that no index both narrows and orders: the date index holds the total after its sort, so
# walking it in order tells which sales are in the range from the index entries alone, and the total
# index holds the date last, so that reading a narrow range of it and ordering it by date needs no
# sale either.
SALE_INDEXES: tuple[tuple[tuple[str, int], ...], ...] = (
    (*NEWEST, (TOTAL, ASCENDING)),
    *(
        ((field, ASCENDING), *NEWEST)
        for field in (
            "storeLocation",
            "purchaseMethod",
            "couponUsed",
            "customer.email",
            f"{METADATA_FIELD}.names",
            f"{METADATA_FIELD}.tags",
        )
    ),
    ((TOTAL, ASCENDING), ("_id", ASCENDING), ("saleDate", ASCENDING)),
    ((VERSION, ASCENDING),),
)
NAMESPACE_EXISTS = 48


def ensure_sale_indexes(database: Database[dict[str, Any]], collection: str) -> None:
    """The indexes of the fields sales are searched and sorted by, where the server reads through
    them, and no other (an index an earlier version searched by only costs writes). Where the server
    does not read through them (FerretDB v1 on SQLite as released), there are none: each would only
    cost every inserted sale."""
    target = database[collection]
    _ensure_collection(database, collection)  # `explain` of a missing one tells nothing
    present = target.index_information()
    if _reads_through_indexes(database, collection):
        wanted = {target.create_index(list(keys)) for keys in SALE_INDEXES}
        unused = [name for name, spec in present.items() if name not in wanted | {"_id_"} and "unique" not in spec]
    else:
        unused = [name for name, spec in present.items() if name != "_id_" and "unique" not in spec]
    for name in unused:
        target.drop_index(name)
    if unused:
        log.info("secondary indexes dropped: no read of this version goes through them", extra={"dropped": unused})


def _ensure_collection(database: Database[dict[str, Any]], collection: str) -> None:
    try:
        database.create_collection(collection)
    except CollectionInvalid:
        pass  # there already
    except OperationFailure as exc:
        if exc.code != NAMESPACE_EXISTS:  # made meanwhile by another consumer
            raise


def _reads_through_indexes(database: Database[dict[str, Any]], collection: str) -> bool:
    """Whether a filter other than one `_id` equality reaches the server's storage (so that an index
    can serve it). FerretDB tells in `explain` (`filterPushdown`; the build of deploy/local pushes a
    range on `_id` down always, and conditions on other fields once an index starts with them);
    MongoDB always does."""
    explained = database.command({"explain": {"find": collection, "filter": {"_id": {"$gte": ObjectId(b"\0" * 12)}}}})
    return bool(explained.get("filterPushdown", True))
