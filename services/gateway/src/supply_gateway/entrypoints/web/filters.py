"""The sales list's filters as people type them: amounts with a currency sign and separators, dates,
ranges the right way round; each mistake said in plain words under its own field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation

from supply_gateway.entrypoints.web.forms import plain_reason

AMOUNTS = ("total_min", "total_max")
DATES = ("date_from", "date_to")
AMOUNT_WORDING = "Enter an amount like 1000.00."
DATE_WORDING = "Enter a date like 2017-12-31."
_AMOUNT = re.compile(r"\d{1,3}(,\d{3})+(\.\d{1,2})?|\d+(\.\d{1,2})?|\.\d{1,2}")


def amount(typed: str) -> Decimal | None:
    """`$1,000`, `1000.5`, `USD 12.50` as a number of dollars; None for anything else."""
    text = re.sub(r"^(US\$|\$|USD)\s*|\s*(USD|\$)$", "", typed.strip(), flags=re.IGNORECASE).strip()
    if not _AMOUNT.fullmatch(text):
        return None
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def read_filters(typed: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The filters to send to the API (amounts as plain decimals), and what is wrong by field."""
    values = {key: value.strip() for key, value in typed.items() if value and value.strip()}
    errors: dict[str, str] = {}
    amounts: dict[str, Decimal] = {}
    for key in AMOUNTS:
        if key in values:
            found = amount(values[key])
            if found is None:
                errors[key] = AMOUNT_WORDING
            else:
                amounts[key] = found
                values[key] = str(found)
    days: dict[str, date] = {}
    for key in DATES:
        if key in values:
            try:
                days[key] = date.fromisoformat(values[key])
            except ValueError:
                errors[key] = DATE_WORDING
    if len(amounts) == 2 and amounts["total_max"] < amounts["total_min"]:
        errors["total_max"] = "The highest total is below the lowest: enter one at or above it."
    if len(days) == 2 and days["date_to"] < days["date_from"]:
        errors["date_to"] = "The end date is before the start date: pick one on or after the start date."
    return values, errors


def plain_filter_errors(errors: Mapping[str, str]) -> dict[str, str]:
    """The API's refusal of a search (`query.total_min: Input should be a valid decimal`) by filter
    field, in plain words."""
    plain: dict[str, str] = {}
    for field, reason in errors.items():
        name = field.removeprefix("query.")
        if name in AMOUNTS:
            plain[name] = AMOUNT_WORDING
        elif name in DATES:
            plain[name] = DATE_WORDING
        else:
            plain[name] = plain_reason(name, reason)
    return plain
