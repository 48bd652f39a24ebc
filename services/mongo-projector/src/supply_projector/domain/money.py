"""How money is held on a server: Decimal128 where the server has it (MongoDB), else a double.

FerretDB v1 cannot store Decimal128 at all (its connection panics on the type), so on FerretDB a
price is a double whose shortest text is the exact decimal (prices have at most 2 decimals and 12
digits, well inside a double's 15). Reads turn such doubles back into Decimal128, so everything
above the store sees the dataset's types.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from bson import Decimal128

from supply_common.contract import decimal128

MoneyMode = Literal["decimal128", "double"]


def _convert(value: Any, to_double: bool) -> Any:
    if isinstance(value, Decimal):  # the projection's exact amount: straight to the server's type
        return float(value) if to_double else decimal128(value)
    if to_double and isinstance(value, Decimal128):
        return float(value.to_decimal())
    if not to_double and isinstance(value, float):
        return decimal128(Decimal(repr(value)))
    return value


def _walk(document: dict[str, Any], to_double: bool) -> dict[str, Any]:
    result = dict(document)
    items = result.get("items")
    if isinstance(items, list):
        result["items"] = [
            {**item, "price": _convert(item.get("price"), to_double)} if isinstance(item, dict) else item
            for item in items
        ]
    meta = result.get("_supply")
    if isinstance(meta, dict) and "total" in meta:
        result["_supply"] = {**meta, "total": _convert(meta["total"], to_double)}
    return result


def encode(document: dict[str, Any], mode: MoneyMode) -> dict[str, Any]:
    """The document as the server stores it: its money (Decimal, or Decimal128) in the server's type.
    Building a Decimal128 and reading it back are pure Python in bson (a quarter of the consumer's
    samples in a catch-up on FerretDB when the projection built Decimal128 for `encode` to read back);
    from the exact Decimal a double is one call."""
    return _walk(document, to_double=mode == "double")


def decode(document: dict[str, Any], mode: MoneyMode) -> dict[str, Any]:
    """The stored document back in dataset types."""
    return document if mode == "decimal128" else _walk(document, to_double=False)


def amount(value: Any) -> Decimal:
    """An amount as any server or the projection holds it (Decimal, Decimal128, a double whose
    shortest text is the exact decimal, an integer), exactly."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    raise TypeError(f"not an amount: {type(value).__name__}")


def query_value(amount: Decimal, mode: MoneyMode) -> Decimal128 | float:
    return decimal128(amount) if mode == "decimal128" else float(amount)
