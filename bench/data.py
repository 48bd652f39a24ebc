"""Synthetic sales in the dataset's shape, prepared before any clock starts.

Everything is built in canonical JSON form (decimals as strings, RFC 3339 dates) and converted to
the other forms with the shared contract, so the bench measures the servers and not the generator.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from supply_common.contract import METADATA_FIELD, Sale, SaleEvent, rfc3339, sale_total, to_document
from supply_common.testing.sales import random_sale_body


def bodies(count: int, seed: int = 1, dated: datetime | None = None) -> list[dict[str, Any]]:
    """Sales dated over five years from 2013 (as the dataset), or all at `dated` (as sales made now)."""
    rng = random.Random(seed)
    drawn = [random_sale_body(rng) for _ in range(count)]
    if dated is not None:
        for body in drawn:
            body["saleDate"] = rfc3339(dated)
    return drawn


def encoded_bodies(count: int, seed: int = 1, dated: datetime | None = None) -> list[bytes]:
    return [json.dumps(body, separators=(",", ":")).encode() for body in bodies(count, seed, dated)]


def sales(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """Whole sales (with a fresh `_id`), canonical JSON."""
    return [{"_id": str(ObjectId()), **body} for body in bodies(count, seed)]


def content_hash(sale: dict[str, Any]) -> str:
    """Equal to `supply_common.contract.sale_hash` for a canonical sale."""
    text = json.dumps(sale, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def envelope(sale: dict[str, Any], version: int = 1, occurred_at: datetime | None = None) -> bytes:
    """The `sale.created` envelope, byte for byte what `SaleEvent.to_bytes` writes for this sale."""
    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": "sale.created" if version == 1 else "sale.updated",
        "schema_version": 1,
        "sale_id": sale["_id"],
        "version": version,
        "occurred_at": rfc3339(occurred_at or datetime.now(UTC)),
        "actor": {"user_id": None, "role": None},
        "data": sale,
        "repair": False,
    }
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def check_envelope(raw: bytes) -> None:
    """Fail early if the hand-built envelope drifted from the contract."""
    event = SaleEvent.from_bytes(raw)
    assert event.to_bytes() == raw, "bench envelope differs from SaleEvent.to_bytes()"


def document(sale: dict[str, Any], version: int = 1, decimal128: bool = True) -> dict[str, Any]:
    """The MongoDB document: `to_document` plus replication metadata under `_supply`.

    Servers without Decimal128 (FerretDB v1) get prices as their canonical decimal text.
    """
    model = Sale.model_validate(sale)
    doc = to_document(model)
    if not decimal128:
        for item in doc["items"]:
            item["price"] = str(item["price"])
    doc[METADATA_FIELD] = {
        "version": version,
        "total": str(sale_total(list(model.items))),
        "updated_at": datetime.now(UTC),
    }
    return doc


# The statements that write what `mysql_rows` returns, as the raw rows write it.
INSERT_SALE = (
    "INSERT INTO sales (id, version, sale_date, store_location, purchase_method, coupon_used, customer_gender,"
    " customer_age, customer_email, customer_satisfaction, content_hash, created_at, updated_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
INSERT_ITEMS = "INSERT INTO sale_items (sale_id, position, name, price, quantity) VALUES (%s, %s, %s, %s, %s)"
INSERT_TAGS = "INSERT INTO sale_item_tags (sale_id, item_position, position, tag) VALUES (%s, %s, %s, %s)"


def mysql_rows(sale: dict[str, Any], version: int = 1) -> dict[str, Any]:
    """Parameters for the `sales`, `sale_items` and `sale_item_tags` inserts."""
    sale_id = sale["_id"]
    moment = datetime.now(UTC).replace(tzinfo=None)
    sale_date = datetime.strptime(sale["saleDate"], "%Y-%m-%dT%H:%M:%S.%fZ")
    customer = sale["customer"]
    return {
        "sale": (
            sale_id,
            version,
            sale_date,
            sale["storeLocation"],
            sale["purchaseMethod"],
            sale["couponUsed"],
            customer["gender"],
            customer["age"],
            customer["email"],
            customer["satisfaction"],
            content_hash(sale),
            moment,
            moment,
        ),
        "items": [
            (sale_id, position, item["name"], item["price"], item["quantity"])
            for position, item in enumerate(sale["items"])
        ],
        "tags": [
            (sale_id, position, tag_position, tag)
            for position, item in enumerate(sale["items"])
            for tag_position, tag in enumerate(item["tags"])
        ],
    }


def supports_decimal128(client: Any) -> bool:
    """FerretDB v1 has no Decimal128 (it drops the connection, and can wedge, on one): ask, never probe."""
    return "ferretdbVersion" not in client.admin.command("buildInfo")
