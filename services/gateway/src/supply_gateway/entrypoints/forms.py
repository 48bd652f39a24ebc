"""The sale form: from form fields to the API's JSON body, and from a sale back to form values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_ITEM_FIELD = re.compile(r"^items\.(\d{1,3})\.(name|tags|price|quantity)$")
ITEM_FIELDS = ("name", "tags", "price", "quantity")


def _int_or_text(value: str) -> int | str:
    value = value.strip()
    return int(value) if re.fullmatch(r"-?\d{1,9}", value) else value


def _rfc3339(value: str) -> str:
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def local_input(value: str | None) -> str:
    """An RFC 3339 UTC date as a `datetime-local` value (UTC, milliseconds kept)."""
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return value
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}"


def form_items(form: Mapping[str, str]) -> list[dict[str, str]]:
    rows: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        found = _ITEM_FIELD.match(key)
        if found:
            rows.setdefault(int(found.group(1)), {})[found.group(2)] = str(value)
    return [
        {name: rows[index].get(name, "") for name in ITEM_FIELDS}
        for index in sorted(rows)
        if any(rows[index].get(name, "").strip() for name in ITEM_FIELDS)
    ]


def sale_body(form: Mapping[str, str]) -> dict[str, Any]:
    """The JSON body for `POST/PUT /api/sales`; values that do not parse are sent as typed so the
    writer's validation names the field."""
    items = [
        {
            "name": row["name"].strip(),
            "tags": [tag.strip() for tag in row["tags"].split(",") if tag.strip()],
            "price": row["price"].strip(),
            "quantity": _int_or_text(row["quantity"]),
        }
        for row in form_items(form)
    ]
    return {
        "saleDate": _rfc3339(form.get("saleDate", "")),
        "items": items,
        "storeLocation": form.get("storeLocation", ""),
        "customer": {
            "gender": form.get("customer.gender", "").strip(),
            "age": _int_or_text(form.get("customer.age", "")),
            "email": form.get("customer.email", "").strip(),
            "satisfaction": _int_or_text(form.get("customer.satisfaction", "")),
        },
        "couponUsed": form.get("couponUsed") in ("on", "true", "1"),
        "purchaseMethod": form.get("purchaseMethod", ""),
    }


def form_values(sale: Mapping[str, Any]) -> dict[str, Any]:
    """Form values from a sale in canonical JSON."""
    customer = sale.get("customer") or {}
    return {
        "saleDate": local_input(sale.get("saleDate")),
        "storeLocation": sale.get("storeLocation", ""),
        "purchaseMethod": sale.get("purchaseMethod", ""),
        "couponUsed": bool(sale.get("couponUsed")),
        "customer.gender": customer.get("gender", ""),
        "customer.age": str(customer.get("age", "")),
        "customer.email": customer.get("email", ""),
        "customer.satisfaction": str(customer.get("satisfaction", "")),
        "items": [
            {
                "name": item.get("name", ""),
                "tags": ", ".join(item.get("tags") or []),
                "price": str(item.get("price", "")),
                "quantity": str(item.get("quantity", "")),
            }
            for item in sale.get("items") or []
        ],
    }


def submitted_values(form: Mapping[str, str]) -> dict[str, Any]:
    """Form values as the user typed them, to show the form again after an error."""
    values: dict[str, Any] = {key: str(value) for key, value in form.items() if not _ITEM_FIELD.match(key)}
    values["couponUsed"] = form.get("couponUsed") in ("on", "true", "1")
    values["items"] = form_items(form)
    return values
