"""How pages look: the templates, the navigation each role sees, and the template filters."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

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


def error_id(field: Any) -> str:
    """The element id of a form field's error message."""
    return "error-" + re.sub(r"[^A-Za-z0-9_-]", "-", str(field))


templates.env.filters["money"] = money
templates.env.filters["ago"] = ago
templates.env.filters["error_id"] = error_id
