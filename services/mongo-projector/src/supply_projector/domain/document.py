"""The stored document: the dataset document plus one metadata field of precomputed values.

Under `_supply` (METADATA_FIELD):
- `version`, `hash` (sale_hash), `event_id`, `occurred_at`, `applied_at`: replication metadata;
- `total` (money), `total_cents` (int64), `item_count` (sum of quantities), `month` ("YYYY-MM");
- `names` (the items' names) and `tags` (their tags), each deduplicated in the order met: what the
  word searches compare with (`domain.search`) and their indexes hold.
Money is summed as integer cents because sums must be exact on every server. Prices and `total`
stay `Decimal` here: the store writes them in its server's type (`money.encode`), so a server
without Decimal128 gets its doubles straight from the exact value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bson.int64 import Int64

from supply_common.contract import METADATA_FIELD, Sale, SaleEvent, decimal_text, sale_hash, sale_total, to_document


def exact(amount: Decimal) -> Decimal:
    """Money as the projection holds it, for `to_document`: the Decimal itself (see `money.encode`)."""
    return amount


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


INT64_MAX = 2**63 - 1


def int64(value: int, what: str) -> Int64:
    """`value` as a 64-bit integer; OverflowError when it does not fit (a sale the copy cannot hold)."""
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise OverflowError(f"{what} {value} does not fit a 64-bit integer")
    return Int64(value)


def money_text(cents_value: int) -> str:
    return decimal_text(Decimal(cents_value) / 100)


def metadata(sale: Sale, event: SaleEvent, applied_at: datetime) -> dict[str, Any]:
    total = sale_total(list(sale.items))
    return {
        "version": event.version,
        "hash": sale_hash(sale),
        "event_id": str(event.event_id),
        "occurred_at": event.occurred_at,
        "applied_at": applied_at,
        "total": total,
        "total_cents": int64(cents(total), "total_cents"),
        "item_count": sum(item.quantity for item in sale.items),
        "month": sale.saleDate.astimezone(UTC).strftime("%Y-%m"),
        "names": list(dict.fromkeys(item.name for item in sale.items)),
        "tags": list(dict.fromkeys(tag for item in sale.items for tag in item.tags)),
    }


def stored_document(event: SaleEvent, applied_at: datetime) -> dict[str, Any] | None:
    """The document an event asks the copy to hold; None for a delete. Raises OverflowError for a
    sale whose cents do not fit the int64 fields analytics sum."""
    if event.data is None:
        return None
    return to_document(event.data, money=exact) | {METADATA_FIELD: metadata(event.data, event, applied_at)}
