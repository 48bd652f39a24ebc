"""Conversions of a sale between its three forms, and the one content hash.

- canonical JSON: what events carry and what the hash is computed over; decimals as normalised
  strings ("866.5", never "866.50"), dates as RFC 3339 UTC with milliseconds, keys in dataset order;
- BSON document: the dataset document (ObjectId, date, Decimal128, int), as MongoDB holds it;
- MongoDB Extended JSON (`mongoexport` output, canonical or relaxed), as the dataset is shipped.

Both sides of the replication (the sales-writer's digest and the projector's copy) hash through
`sale_hash`, so equal content gives equal hashes whatever form it came from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import orjson
from bson import Decimal128, ObjectId
from bson.int64 import Int64
from bson.json_util import JSONMode, JSONOptions
from bson.json_util import loads as bson_loads
from bson.json_util import object_hook as bson_object_hook

from supply_common.contract.sale import Sale

METADATA_FIELD: Final = "_supply"
"""The one namespaced field of a MongoDB sale document that is not part of the dataset."""

_EXTENDED_JSON: Final = JSONOptions(json_mode=JSONMode.RELAXED, tz_aware=True, tzinfo=UTC)


def decimal_text(value: Decimal) -> str:
    """The shortest exact text of a decimal: 866.50 -> "866.5", 40.00 -> "40"."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0.0") else text


def rfc3339(value: datetime) -> str:
    """UTC, millisecond precision, `Z` suffix: `2015-03-23T21:06:49.506Z`."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" -> "Z"


def canonical(sale: Sale) -> dict[str, Any]:
    """The sale as canonical JSON-ready data, in dataset field order."""
    return _dataset_fields(sale, sale.id, rfc3339(sale.saleDate), decimal_text)


def canonical_bytes(sale: Sale) -> bytes:
    """Canonical JSON with sorted keys, compact, UTF-8 (non-ASCII text as is): the bytes that are hashed."""
    return _sorted_json(canonical(sale))


def sale_hash(sale: Sale) -> str:
    """SHA-256 (hex) of the canonical JSON with sorted keys: the drift-control fingerprint."""
    return document_hash(canonical(sale))


def document_hash(document: Mapping[str, Any]) -> str:
    """`sale_hash` of the sale whose `canonical(sale)` is `document`, for a writer that already holds it."""
    return hashlib.sha256(_sorted_json(document)).hexdigest()


def _sorted_json(data: Mapping[str, Any]) -> bytes:
    """orjson writes exactly what `json.dumps(..., ensure_ascii=False, separators=(",", ":"),
    sort_keys=True)` writes for these values (strings, integers, booleans, null; checked on random
    text in the contract tests), ten times faster."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def decimal128(amount: Decimal) -> Decimal128:
    """A price as the dataset holds it."""
    return Decimal128(decimal_text(amount))


def to_document(sale: Sale, money: Callable[[Decimal], Any] = decimal128) -> dict[str, Any]:
    """The dataset document with BSON types, without metadata. `money` gives each price its type
    (Decimal128 unless a writer that chooses the type per server asks for something else)."""
    return _dataset_fields(sale, ObjectId(sale.id), sale.saleDate.astimezone(UTC), money)


def _dataset_fields(sale: Sale, sale_id: Any, sale_date: Any, money: Callable[[Decimal], Any]) -> dict[str, Any]:
    """The sale in the dataset's fields and order, with its id, date and prices in the caller's form."""
    return {
        "_id": sale_id,
        "saleDate": sale_date,
        "items": [
            {"name": item.name, "tags": list(item.tags), "price": money(item.price), "quantity": item.quantity}
            for item in sale.items
        ],
        "storeLocation": sale.storeLocation,
        "customer": {
            "gender": sale.customer.gender,
            "age": sale.customer.age,
            "email": sale.customer.email,
            "satisfaction": sale.customer.satisfaction,
        },
        "couponUsed": sale.couponUsed,
        "purchaseMethod": sale.purchaseMethod,
    }


def _plain(value: Any) -> Any:
    """BSON types to the JSON-ish values the pydantic model validates."""
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, Int64):
        return int(value)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def from_document(document: Mapping[str, Any]) -> Sale:
    """A MongoDB document (metadata ignored) back to a validated sale."""
    fields = {key: value for key, value in document.items() if key != METADATA_FIELD}
    return Sale.model_validate(_plain(fields))


def from_extended_json(text: str | bytes) -> Sale:
    """One `mongoexport` record (canonical or relaxed Extended JSON) to a validated sale. A JSON number
    with a fraction or exponent is read as the decimal it is written as, never as a binary float."""
    return from_document(bson_loads(text, json_options=_EXTENDED_JSON, parse_float=Decimal))


def from_extended_value(value: Any) -> Sale:
    """`from_extended_json` of a record a streaming parser has already read: objects as dicts, numbers
    as int or Decimal."""
    return from_document(_extended(value))


def _extended(value: Any) -> Any:
    """Extended JSON wrappers ({"$oid": ...}, {"$date": ...}...) to BSON types, innermost first, as
    `bson.json_util.loads` converts them while it reads."""
    if isinstance(value, dict):
        return bson_object_hook({key: _extended(item) for key, item in value.items()}, _EXTENDED_JSON)
    if isinstance(value, list):
        return [_extended(item) for item in value]
    return value
