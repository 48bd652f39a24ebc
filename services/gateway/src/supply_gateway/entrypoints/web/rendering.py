"""How pages look: the templates, the navigation each role sees, and the template filters."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates

templates = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")

NAV = (
    ("purchases", "/purchases", "My purchases"),
    ("dashboard", "/dashboard", "Dashboard"),
    ("sales", "/sales", "Sales"),
    ("import", "/sales/import", "Import"),
    ("ops", "/ops", "Replication"),
    ("staff", "/staff", "Staff"),
)
TITLES = {
    403: "Not allowed",
    404: "Page not found",
    405: "Page not found",
    429: "Too many requests at once",
    500: "Something went wrong",
    502: "Not available right now",
    503: "Not available right now",
    504: "This took too long",
}
"""Page titles by status, in the words of the people who read them (never the service's own)."""

ROLE_NAMES = {"customer": "Customer", "technical_worker": "Technical worker", "senior_management": "Senior management"}


def money(value: Any) -> str:
    try:
        return f"{Decimal(str(value)):,.2f}"
    except (InvalidOperation, ValueError):
        return "-"


def ago(seconds: Any) -> str:
    """A time since, as people say it: `just now`, `40 s ago`, `5 min ago`, `3 h ago`, `2 d ago`."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return "–"
    if value < 5:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if value >= size:
            return f"{int(value // size)} {unit} ago"
    return f"{int(value)} s ago"


STORE_ZONES = {
    "Denver": "America/Denver",
    "Seattle": "America/Los_Angeles",
    "London": "Europe/London",
    "Austin": "America/Chicago",
    "New York": "America/New_York",
    "San Diego": "America/Los_Angeles",
}
"""Each store's time zone: its city's."""


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def day(value: Any) -> str:
    """An RFC 3339 instant's UTC day as people write it: `12 Dec 2017`."""
    instant = _instant(value)
    return f"{instant.day} {instant.strftime('%b %Y')}" if instant else str(value or "")


def store_time(value: Any, store: Any) -> str:
    """The instant on the store's clock, `12 Dec 2017, 02:30 MST`; empty for a store with no known zone."""
    instant = _instant(value)
    zone = STORE_ZONES.get(str(store))
    if instant is None or zone is None:
        return ""
    try:
        local = instant.astimezone(ZoneInfo(zone))
    except (OverflowError, ValueError):
        return ""
    return f"{local.day} {local.strftime('%b %Y, %H:%M %Z')}"


def error_id(field: Any) -> str:
    """The element id of a form field's error message."""
    return "error-" + re.sub(r"[^A-Za-z0-9_-]", "-", str(field))


templates.env.filters["money"] = money
templates.env.filters["ago"] = ago
templates.env.filters["error_id"] = error_id
templates.env.filters["day"] = day
templates.env.filters["store_time"] = store_time
