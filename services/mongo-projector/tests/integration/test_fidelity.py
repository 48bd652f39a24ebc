"""The copy is the dataset document, field for field and type for type, and classic queries agree."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from bson import Decimal128
from bson.json_util import JSONOptions, loads
from pymongo.errors import OperationFailure

from supply_common.contract import METADATA_FIELD
from supply_projector.bootstrap import Container
from supply_projector.domain import money

from .conftest import consuming, produce, wait_for
from .events import LINES, SAMPLES, sale_event

pytestmark = pytest.mark.integration
OPTIONS = JSONOptions(tz_aware=True, tzinfo=UTC)


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


def _classic(collection: Any) -> list[Any]:
    by_store = sorted(str(d["_id"]) for d in collection.find({"storeLocation": "Denver"}))
    try:
        elem = sorted(
            str(d["_id"])
            for d in collection.find({"items": {"$elemMatch": {"name": "laptop", "price": {"$gte": 800}}}})
        )
    except OperationFailure:
        elem = sorted(
            str(d["_id"])
            for d in collection.aggregate(
                [
                    {"$unwind": "$items"},
                    {"$match": {"items.name": "laptop", "items.price": {"$gte": 800}}},
                    {"$group": {"_id": "$_id"}},
                ]
            )
        )
    per_method = sorted(
        (d["_id"], d["n"]) for d in collection.aggregate([{"$group": {"_id": "$purchaseMethod", "n": {"$count": {}}}}])
    )
    quantities = sorted(
        (d["_id"], d["q"])
        for d in collection.aggregate(
            [{"$unwind": "$items"}, {"$group": {"_id": "$items.name", "q": {"$sum": "$items.quantity"}}}]
        )
    )
    return [by_store, elem, per_method, quantities]


async def test_the_sample_projects_to_the_identical_documents(container: Container) -> None:
    await produce(container.settings, [sale_event(sale, 1, "create") for sale in SAMPLES])
    collection = container.database["sales"]
    async with consuming(container):
        await wait_for(lambda: collection.count_documents({}) == len(SAMPLES), what="7 sales")

    mode = container.mode()
    originals = {str(d["_id"]): d for d in (loads(line, json_options=OPTIONS) for line in LINES)}
    for stored in collection.find():
        dataset_part = {k: v for k, v in stored.items() if k != METADATA_FIELD}
        original = originals[str(stored["_id"])]
        assert money.decode(dataset_part, mode) == original
        assert _types(dataset_part) == _types(money.encode(original, mode))
        assert list(dataset_part) == list(original)
        if mode == "decimal128":
            assert isinstance(stored["items"][0]["price"], Decimal128)

    reference = container.database["reference"]
    reference.insert_many([money.encode(loads(line, json_options=OPTIONS), mode) for line in LINES])
    assert _classic(collection) == _classic(reference)
    assert _classic(collection)[0]
    assert _classic(collection)[1]
