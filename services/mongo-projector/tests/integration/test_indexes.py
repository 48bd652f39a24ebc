"""The sales collection's secondary indexes against what the server does with a filter."""

from __future__ import annotations

import pytest
from pymongo import ASCENDING

from supply_projector.adapters.mongo import SALE_INDEXES, ensure_sale_indexes
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
    wanted = {"_".join(f"{field}_{direction}" for field, direction in keys) for keys in SALE_INDEXES}
    if _filter_reaches_storage(container, "sales_indexed"):
        assert wanted <= present
    else:
        assert present == {"_id_"}, "an index the server never reads through only slows every write"


def test_a_collection_that_does_not_exist_yet_is_made(container: Container) -> None:
    ensure_sale_indexes(container.database, "sales_new")
    assert "sales_new" in container.database.list_collection_names()
