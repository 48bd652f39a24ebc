"""Searches give what the whole filter gives, whatever the server pushes down to its storage.

Each page query of the read API (every filter, every sort, cursor pages both ways) is run as built and again
wrapped in a double `$nor`: the same set of documents, but a filter no server pushes down, so the
second run is the server's own evaluation of every document. On MongoDB both are always equal; on
FerretDB with the patches of deploy/local they check the pushed-down conditions and the first page
found through the index against that evaluation, on stored sales and on documents whose fields are
missing, null, arrays or of another type.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from bson import ObjectId
from bson.int64 import Int64

from supply_common.testing.fixtures import random_name
from supply_projector.adapters.indexes import ensure_sale_indexes
from supply_projector.adapters.server import MoneyModeOf
from supply_projector.bootstrap import Container
from supply_projector.domain.queries import SORTS, Cursor, DateRange, SalesFilter, SortOrder, customer_match, page_query

pytestmark = pytest.mark.integration

START = datetime(2015, 3, 1, tzinfo=UTC)
STORES = ("Denver", "Austin", "Seattle")
ITEMS = ("pens", "Laptop bag", "binder")
TAGS = ("office", "school", "electronics")


def _sale(i: int) -> dict[str, Any]:
    """A sale in the stored shape (the fields searched and sorted on), some sharing a date."""
    items = [{"name": ITEMS[(i + k) % 3], "tags": [TAGS[(i + k) % 3]], "quantity": 1} for k in range(1 + i % 2)]
    return {
        "_id": ObjectId(),
        "saleDate": START + timedelta(hours=i // 2),
        "storeLocation": STORES[i % 3],
        "purchaseMethod": ("Online", "In store", "Phone")[i % 3 if i % 5 else 0],
        "couponUsed": i % 4 == 0,
        "customer": {"email": f"c{i % 7}@example.com"},
        "items": items,
        "_supply": {
            "names": [item["name"] for item in items],
            "tags": sorted({tag for item in items for tag in item["tags"]}),
            "total_cents": Int64(1000 * (i % 11)),
        },
    }


def _odd_documents() -> list[dict[str, Any]]:
    """Documents a projector never writes, whose fields a pushdown must still compare as MongoDB does."""
    sale = _sale(3)
    return [
        sale | {"_id": ObjectId(), "storeLocation": ["Denver", "Boston"]},  # an array where a string is
        sale | {"_id": ObjectId(), "storeLocation": None},
        {k: v for k, v in sale.items() if k != "storeLocation"} | {"_id": ObjectId()},
        sale | {"_id": ObjectId(), "couponUsed": 1},  # a number where a boolean is
        sale | {"_id": ObjectId(), "purchaseMethod": ObjectId()},
        sale | {"_id": ObjectId(), "customer": {"email": ["c1@example.com"]}},
        sale | {"_id": ObjectId(), "customer": "c1@example.com"},
        sale | {"_id": ObjectId(), "_supply": {"tags": "office", "names": "pens", "total_cents": 5000.5}},
        sale | {"_id": ObjectId(), "_supply": {"tags": [], "names": [{"k": "pens"}], "total_cents": "5000"}},
        sale
        | {"_id": ObjectId(), "_supply": {"tags": ["school", None], "names": ["binder", {"n": 1}], "total_cents": 1}},
    ]


def _filters() -> list[dict[str, Any]]:
    day = START + timedelta(days=1)
    filters = [
        SalesFilter(store="Denver").filter(),
        SalesFilter(method="Online").filter(),
        SalesFilter(coupon=True).filter(),
        SalesFilter(coupon=False).filter(),
        SalesFilter(email="C1@Example.com").filter(),
        SalesFilter(email="C").filter(),
        # the names as the words lookup gives them (`test_sales_search` checks that part)
        SalesFilter(item="laptop").with_names({"item": ["Laptop bag"]}).filter(),
        SalesFilter(item="b").with_names({"item": ["binder", "Laptop bag"]}).filter(),
        SalesFilter(item="absent").with_names({"item": ["absent"]}).filter(),
        SalesFilter(tag="school").with_names({"tag": ["school"]}).filter(),
        SalesFilter(item="pens", tag="o").with_names({"item": ["pens"], "tag": ["office", "school"]}).filter(),
        SalesFilter(item="b", tag="e").with_names({"item": ["binder", "Laptop bag"], "tag": ["electronics"]}).filter(),
        SalesFilter(item="p", tag="s").with_names({"item": ["pens", "Laptop bag"], "tag": ["school", "x"]}).filter(),
        SalesFilter(dates=DateRange(day, day + timedelta(days=1))).filter(),
        SalesFilter(dates=DateRange(date_from=day)).filter(),
        SalesFilter(total_min=Decimal(5), total_max=Decimal(40)).filter(),
        SalesFilter(total_min=Decimal("50.005")).filter(),
        SalesFilter(store="Austin", coupon=False, dates=DateRange(date_to=day)).filter(),
        customer_match("c3@example.com"),
        {},
    ]
    return filters


def _page(collection: Any, query: dict[str, Any], order: list[tuple[str, int]], limit: int) -> list[Any]:
    return [doc["_id"] for doc in collection.find(query).sort(order).limit(limit)]


def _compare(collection: Any, base: dict[str, Any], sort: SortOrder, limit: int) -> int:
    """Follow every page of a search forwards, and from the last one a page back, both ways; the
    number of pages."""
    cursor: Cursor | None = None
    pages = 0
    while True:
        query, order = page_query(base, sort, cursor)
        found = _page(collection, query, order, limit + 1)
        assert found == _page(collection, {"$nor": [{"$nor": [query]}]}, order, limit + 1), (base, sort, cursor)
        pages += 1
        if len(found) <= limit:
            break
        cursor = Cursor.of(collection.find_one({"_id": found[limit - 1]}), sort)
    if found and cursor is not None:
        back = Cursor.of(collection.find_one({"_id": found[0]}), sort, backwards=True)
        query, order = page_query(base, sort, back)
        assert _page(collection, query, order, limit) == _page(collection, {"$nor": [{"$nor": [query]}]}, order, limit)
    return pages


@pytest.mark.parametrize("odd", [False, True], ids=["stored sales", "with odd documents"])
def test_every_search_gives_what_the_whole_filter_gives(container: Container, odd: bool) -> None:
    collection = container.database["sales_searched"]
    ensure_sale_indexes(container.database, "sales_searched")
    collection.insert_many([_sale(i) for i in range(120)])
    if odd:
        collection.insert_many(_odd_documents())
    pages = 0
    for base in _filters():
        for sort in SORTS:
            pages += _compare(collection, base, sort, limit=7 if sort.startswith("date") else 30)
    assert pages > 2 * len(_filters())


def test_sales_without_a_date_still_come_last_when_newest_first(container: Container) -> None:
    collection = container.database["sales_undated"]
    ensure_sale_indexes(container.database, "sales_undated")
    collection.insert_many([_sale(i) for i in range(30)])
    undated = {k: v for k, v in _sale(99).items() if k != "saleDate"}
    collection.insert_one(undated)
    query, order = page_query({}, "date_desc", None)
    assert _page(collection, query, order, 31)[-1] == undated["_id"]
    query, order = page_query({}, "date_asc", None)
    assert _page(collection, query, order, 1) == [undated["_id"]]


def test_a_list_of_ids_is_one_indexed_query_once_the_server_says_it_pushes_it_down(container: Container) -> None:
    """On MongoDB, and on the stack's FerretDB (its patch series pushes `_id: {$in}` down), the
    projector reads a batch's sales in one query. A collection that does not exist yet is no answer
    on FerretDB (nothing is pushed down there), so the question is asked again later."""
    mode = MoneyModeOf(container.client)
    missing = container.database[random_name("missing")]
    assert mode.in_query_scans(missing) is mode.ferretdb_v1()
    present = container.database[random_name("present")]
    present.insert_one({"_id": ObjectId()})
    assert mode.in_query_scans(present) is False
    assert mode.in_query_scans(missing) is False, "the answer is kept once a real collection gave it"
