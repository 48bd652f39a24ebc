"""The sales collection's secondary indexes against what the server does with a filter."""

from __future__ import annotations

import pytest
from pymongo import ASCENDING

from supply_projector.adapters.indexes import ARRAY_FIELDS, SALE_INDEXES, ensure_sale_indexes, wanted_indexes
from supply_projector.bootstrap import Container

pytestmark = pytest.mark.integration


def _filter_reaches_storage(container: Container, collection: str) -> bool:
    explained = container.database.command({"explain": {"find": collection, "filter": {"storeLocation": "Denver"}}})
    return bool(explained.get("filterPushdown", True))


def test_indexes_are_kept_only_where_the_server_reads_through_them(container: Container) -> None:
    collection = container.database["sales_indexed"]
    collection.create_index([("storeLocation", ASCENDING)])  # left by an earlier version
    ensure_sale_indexes(container.database, "sales_indexed")
    ensure_sale_indexes(container.database, "sales_indexed")  # again, as every consumer does at start
    present = set(collection.index_information())
    kept = wanted_indexes(container.database, "sales_indexed")
    wanted = {"_".join(f"{field}_{direction}" for field, direction in keys) for keys in kept}
    if _filter_reaches_storage(container, "sales_indexed"):
        assert present == wanted | {"_id_"}
        assert len(kept) == len(SALE_INDEXES)  # every filter and sort has its index
    else:
        assert present == {"_id_"}, "an index the server never reads through only slows every write"


def test_an_array_fields_index_is_the_field_alone_where_an_index_finds_no_element(container: Container) -> None:
    """MongoDB's multikey index seeks an element and gives the page in date order; FerretDB's SQLite
    index holds the array's text, so there it only lets the condition reach the storage."""
    ensure_sale_indexes(container.database, "sales_arrays")
    kept = {keys[0][0]: keys for keys in wanted_indexes(container.database, "sales_arrays")}
    ferretdb = "ferretdbVersion" in container.client.admin.command("buildInfo")
    for field in ARRAY_FIELDS:
        alone = ((field, ASCENDING),)
        assert kept[field] == (alone if ferretdb else (*alone, ("saleDate", ASCENDING), ("_id", ASCENDING)))
