"""The sales collection's secondary indexes: the read API's filters and sorts, where the server reads
through them.

On SQLite, FerretDB as released answers every filter but one on `_id` by scanning the collection in
its own process (`explain` says `filterPushdown: false`): secondary indexes serve no read and only
cost writes, so none is kept there. The build of deploy/local pushes comparisons on indexed fields
and the first page of a sort down to SQLite (deploy/local/README.md). Its index of an array field
holds the array's whole text, so it finds no element: the index only lets the field's condition
reach SQLite, which tests the elements of the documents it walks in date order. There the array
fields' indexes are the field alone (`sale_indexes`), which costs a sale's insert a third of the
compound one.
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
ARRAY_FIELDS = frozenset({f"{METADATA_FIELD}.names", f"{METADATA_FIELD}.tags"})
NAMESPACE_EXISTS = 48


def sale_indexes(seeks_elements: bool) -> tuple[tuple[tuple[str, int], ...], ...]:
    """`SALE_INDEXES` for a server whose index of an array field seeks its elements (MongoDB's
    multikey index), or, when it does not, with the array fields' indexes reduced to the field."""
    if seeks_elements:
        return SALE_INDEXES
    return tuple(keys[:1] if keys[0][0] in ARRAY_FIELDS else keys for keys in SALE_INDEXES)


def ensure_sale_indexes(database: Database[dict[str, Any]], collection: str) -> None:
    """The indexes of the fields sales are searched and sorted by, where the server reads through
    them, and no other (an index an earlier version searched by only costs writes). Where the server
    does not read through them (FerretDB v1 on SQLite as released), there are none: each would only
    cost every inserted sale."""
    target = database[collection]
    _ensure_collection(database, collection)  # `explain` of a missing one tells nothing
    present = target.index_information()
    wanted = {target.create_index(list(keys)) for keys in wanted_indexes(database, collection)}
    unused = [name for name, spec in present.items() if name not in wanted | {"_id_"} and "unique" not in spec]
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


def _pushdown(database: Database[dict[str, Any]], collection: str) -> bool | None:
    """Whether a filter other than one `_id` equality reaches the server's storage (so that an index
    can serve it), as FerretDB tells in `explain` (`filterPushdown`; the build of deploy/local pushes a
    range on `_id` down always, and conditions on other fields once an index starts with them). None:
    the server says nothing of it (MongoDB, whose every filter reaches its storage)."""
    explained = database.command({"explain": {"find": collection, "filter": {"_id": {"$gte": ObjectId(b"\0" * 12)}}}})
    pushdown = explained.get("filterPushdown")
    return None if pushdown is None else bool(pushdown)


def wanted_indexes(database: Database[dict[str, Any]], collection: str) -> tuple[tuple[tuple[str, int], ...], ...]:
    """The secondary indexes `ensure_sale_indexes` keeps on this server: none where no filter reaches
    its storage."""
    pushdown = _pushdown(database, collection)
    return () if pushdown is False else sale_indexes(seeks_elements=pushdown is None)
