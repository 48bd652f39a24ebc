"""What changed between two versions of a sale, in the words of the sale page, and how someone's
edits are laid again on a newer version (the edit conflict)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

FIELDS: Final = (
    ("saleDate", "Date"),
    ("storeLocation", "Store"),
    ("purchaseMethod", "Method"),
    ("couponUsed", "Coupon used"),
    ("customer.email", "Customer email"),
    ("customer.gender", "Customer gender"),
    ("customer.age", "Customer age"),
    ("customer.satisfaction", "Satisfaction"),
)
ITEM_FIELDS: Final = (("name", "name"), ("tags", "tags"), ("price", "unit price"), ("quantity", "quantity"))


@dataclass(frozen=True)
class Change:
    field: str
    before: str | None
    """None: there was nothing (a new item, a new sale)."""
    after: str | None
    """None: it went (a removed item, a deleted sale)."""


def _get(sale: Mapping[str, Any], path: str) -> Any:
    value: Any = sale
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        return value.replace("T", " ").removesuffix("Z").removesuffix(".000") + " UTC"
    return "" if value is None else str(value)


def _same(a: Any, b: Any) -> bool:
    """Equal as the sale means them: prices `2.5` and `2.50` are one amount, `...:00Z` and
    `...:00.000Z` one time."""
    if isinstance(a, str) and isinstance(b, str) and a[10:11] == "T" and b[10:11] == "T":
        try:
            return datetime.fromisoformat(a) == datetime.fromisoformat(b)
        except ValueError:
            return a == b
    if isinstance(a, bool | list | type(None)) or isinstance(b, bool | list | type(None)):
        return bool(a == b)
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except InvalidOperation:
        return bool(a == b)


def _item_text(item: Mapping[str, Any]) -> str:
    return f"{item.get('quantity')} × {item.get('name')} at ${item.get('price')}"


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[Change]:
    """Field by field, then item by item (by position); a created or deleted sale is one change."""
    if before is None or after is None:
        if before is None and after is None:
            return []
        return [Change("Sale", None if before is None else "the sale", None if after is None else "the sale")]
    found = [
        Change(label, _text(_get(before, path)), _text(_get(after, path)))
        for path, label in FIELDS
        if not _same(_get(before, path), _get(after, path))
    ]
    old_items, new_items = list(before.get("items") or []), list(after.get("items") or [])
    for index in range(max(len(old_items), len(new_items))):
        label = f"Item {index + 1}"
        if index >= len(old_items):
            found.append(Change(label, None, _item_text(new_items[index])))
        elif index >= len(new_items):
            found.append(Change(label, _item_text(old_items[index]), None))
        else:
            found.extend(
                Change(f"{label} {name}", _text(old_items[index].get(key)), _text(new_items[index].get(key)))
                for key, name in ITEM_FIELDS
                if not _same(old_items[index].get(key), new_items[index].get(key))
            )
    return found


def reapplied(base: Mapping[str, Any], mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> dict[str, Any]:
    """`theirs` (the newer version) with each field I changed from `base` set to my value; the items
    as one field (mine if I changed any of them). My value wins where we both changed a field."""
    merged: dict[str, Any] = {key: value for key, value in theirs.items() if key != "customer"}
    merged["customer"] = dict(theirs.get("customer") or {})
    for path, _ in FIELDS:
        if not _same(_get(base, path), _get(mine, path)):
            if "." in path:
                outer, inner = path.split(".", 1)
                merged[outer][inner] = _get(mine, path)
            else:
                merged[path] = _get(mine, path)
    if changes({"items": base.get("items") or []}, {"items": mine.get("items") or []}):
        merged["items"] = list(mine.get("items") or [])
    return merged


def _changed_fields(a: Mapping[str, Any], b: Mapping[str, Any]) -> set[str]:
    return {"Items" if change.field.startswith("Item ") else change.field for change in changes(a, b)}


def both_changed(base: Mapping[str, Any], mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> list[str]:
    """The fields we both changed, to different values (mine is kept; they are pointed out)."""
    return sorted(_changed_fields(base, theirs) & _changed_fields(base, mine) & _changed_fields(theirs, mine))
