"""Sales as CSV: one line per sale, items in one cell, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Any, Final

from supply_common.contract import decimal_text, from_document, sale_total

HEADER: Final = (
    "id",
    "saleDate",
    "storeLocation",
    "purchaseMethod",
    "couponUsed",
    "customer.email",
    "customer.gender",
    "customer.age",
    "customer.satisfaction",
    "items",
    "quantity",
    "total",
)
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """Text a spreadsheet shows as text: one starting like a formula gets a leading apostrophe."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def row(document: dict[str, Any]) -> list[str]:
    sale = from_document(document)
    items = "; ".join(
        f"{item.quantity} x {item.name} @ {decimal_text(item.price)} [{', '.join(item.tags)}]" for item in sale.items
    )
    return [
        sale.id,
        sale.saleDate.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        sale.storeLocation,
        sale.purchaseMethod,
        "true" if sale.couponUsed else "false",
        _cell(sale.customer.email),
        _cell(sale.customer.gender),
        str(sale.customer.age),
        str(sale.customer.satisfaction),
        _cell(items),
        str(sum(item.quantity for item in sale.items)),
        decimal_text(sale_total(list(sale.items))),
    ]


def csv_lines(documents: Iterable[dict[str, Any]], chunk: int = 200) -> Iterator[str]:
    """The header, then the sales' lines, `chunk` lines a piece."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for lines, document in enumerate(documents, start=1):
        writer.writerow(row(document))
        if lines % chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
