"""The sale form: from form fields to the API's JSON body, and from a sale back to form values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
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
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # not a date, or beyond the calendar in UTC: the API says why
        return value
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def local_input(value: str | None) -> str:
    """An RFC 3339 UTC date as a `datetime-local` value (UTC): to the second, with milliseconds only
    when the sale has some, so that saving the form unchanged keeps the date exactly."""
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        return value
    milliseconds = parsed.microsecond // 1000
    return parsed.strftime("%Y-%m-%dT%H:%M:%S") + (f".{milliseconds:03d}" if milliseconds else "")


def now_input(now: datetime | None = None) -> str:
    """Now, in UTC, as a new sale's `datetime-local` value: to the minute."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _price_input(value: Any) -> str:
    """A price as money is written (`1234.50`); one with more decimal places is left as it is."""
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not price.is_finite() or price != price.quantize(Decimal("0.01")):
        return str(value)
    return f"{price:.2f}"


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
                "price": _price_input(item.get("price", "")),
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


_ITEM_INDEX = re.compile(r"^items\.\d+\.")
FIELD_WORDING: dict[str, str] = {
    "saleDate": "Enter the date and time of the sale.",
    "storeLocation": "Choose a store.",
    "purchaseMethod": "Choose a purchase method.",
    "customer.gender": "Choose a gender.",
    "customer.satisfaction": "Choose a score from 1 to 5.",
    "customer.email": "Enter an email address like name@example.com.",
}
"""Fields whose every refusal means one thing to the person filling the sale form."""

_WORDING: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), wording)
    for pattern, wording in (
        (r"^Field required", "Fill this in."),
        (r"^String should have at least 1 character", "Fill this in."),
        (r"^List should have at least 1 item", "Add at least one item."),
        (r"^String should have at most (\d+) characters?", r"Use at most \1 characters."),
        (r"^Input should be a valid integer", "Enter a whole number."),
        (r"^Input should be a valid (decimal|number)", "Enter a number like 12.50."),
        (
            r"^Decimal input should have no more than (\d+) decimal places?",
            r"Use at most \1 decimal places, like 12.50.",
        ),
        (r"^Decimal input should have no more than (\d+) digits?", "Enter a smaller number."),
        (r"^Input should be greater than or equal to (\S+)", r"Enter \1 or more."),
        (r"^Input should be greater than (\S+)", r"Enter more than \1."),
        (r"^Input should be less than or equal to (\S+)", r"Enter \1 or less."),
        (r"^Input should be less than (\S+)", r"Enter less than \1."),
        (r"^Input should be a valid datetime", "Enter a date and time."),
        (r"^Input should be (('[^']*'(, | or )?)+)$", r"Choose one of \1."),
        (r"^Value error, (.+)$", r"\1"),
    )
)
_ITEM_WORDING = {"name": "Enter the item's name.", "quantity": "Enter a whole number of at least 1."}


def plain_reason(field: str, reason: str) -> str:
    """A validator's reason (pydantic's wording, from the writer or auth) as a person would say it."""
    if field in FIELD_WORDING:
        return FIELD_WORDING[field]
    item_field = _ITEM_INDEX.sub("", field) if _ITEM_INDEX.match(field) else None
    if item_field in _ITEM_WORDING and re.match(r"^(String should|Field required|Input should be)", reason):
        return _ITEM_WORDING[item_field]
    for pattern, wording in _WORDING:
        found = pattern.match(reason)
        if found:
            return found.expand(wording).replace("'", "").rstrip(".") + "."
    return reason


def plain_errors(errors: Mapping[str, str]) -> dict[str, str]:
    return {field: plain_reason(field, reason) for field, reason in errors.items()}
