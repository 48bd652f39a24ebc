"""Read queries as typed values, and how they become MongoDB filters.

Filters are built only from typed values (enums, booleans, dates, decimals, checked strings), so a
query value can never become an operator.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from bson import ObjectId

from supply_common.email_address import normalise_email
from supply_projector.domain.document import cents

SortOrder = Literal["date_desc", "date_asc"]
MAX_PAGE = 100

META = "_supply"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


class InvalidCursor(ValueError):
    pass


def date_bound(value: datetime) -> datetime:
    """A date bound in UTC on the millisecond grid sales are dated on, moved up to the next whole
    millisecond when it is finer, so that it means what it says: a sale at 49.506 is before both
    `date_from` and `date_to` = 49.5061 (left out by the first, kept by the second), as it is
    before 49.507. OverflowError when the instant is outside years 1-9999 in UTC."""
    utc = value.astimezone(UTC)
    finer = utc.microsecond % 1000
    return utc + timedelta(microseconds=1000 - finer) if finer else utc


@dataclass(frozen=True)
class DateRange:
    """Bounds as `date_bound` gives them."""

    date_from: datetime | None = None
    """Inclusive."""
    date_to: datetime | None = None
    """Exclusive."""

    def filter(self) -> dict[str, Any]:
        bounds: dict[str, Any] = {}
        if self.date_from is not None:
            bounds["$gte"] = self.date_from
        if self.date_to is not None:
            bounds["$lt"] = self.date_to
        return {"saleDate": bounds} if bounds else {}


def customer_match(email: str) -> dict[str, Any]:
    """The sales of the customer with this email, whatever its case: the contract keeps
    `customer.email` in its one compared form (`normalise_email`: NFC, lower case), so the value is
    put in that form and compared exactly, which an index serves (FerretDB v1 has no
    case-insensitive comparison but a regex)."""
    return {"customer.email": normalise_email(email)}


@dataclass(frozen=True)
class SalesFilter:
    store: str | None = None
    method: str | None = None
    coupon: bool | None = None
    email: str | None = None
    item: str | None = None
    tag: str | None = None
    dates: DateRange = DateRange()
    total_min: Decimal | None = None
    total_max: Decimal | None = None

    def filter(self) -> dict[str, Any]:
        """A string compared with a field is never an operator, whatever it holds (`$ne`, braces)."""
        query: dict[str, Any] = {}
        for name, value in (
            ("storeLocation", self.store),
            ("purchaseMethod", self.method),
            ("couponUsed", self.coupon),
            ("items.name", self.item),
            (f"{META}.tags", self.tag),
        ):
            if value is not None:
                query[name] = value
        if self.email is not None:
            query.update(customer_match(self.email))
        query.update(self.dates.filter())
        total: dict[str, int] = {}
        if self.total_min is not None:
            total["$gte"] = cents(self.total_min)
        if self.total_max is not None:
            total["$lte"] = cents(self.total_max)
        if total:
            query[f"{META}.total_cents"] = total
        return query


def to_millis(when: datetime) -> int:
    """Milliseconds since the epoch, in integers: `timestamp() * 1000` is a float product that lands
    1 ms low for some dates (2004-05-16T15:09:43.475Z gives ...474), and a cursor 1 ms off repeats or
    skips the sales at its date."""
    return (when - EPOCH) // MILLISECOND


def from_millis(millis: int) -> datetime:
    """The UTC date `millis` milliseconds after the epoch (OverflowError outside years 1-9999)."""
    return EPOCH + timedelta(milliseconds=millis)


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the (saleDate, _id) of its last sale, in a given sort order."""

    sale_date: datetime
    sale_id: str
    sort: SortOrder

    def encode(self) -> str:
        raw = json.dumps({"d": to_millis(self.sale_date), "i": self.sale_id, "s": self.sort}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            data = json.loads(raw)
            millis, sale_id, sort = data["d"], data["i"], data["s"]
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise InvalidCursor("not a cursor this API issued") from exc
        if (
            not isinstance(millis, int)
            or isinstance(millis, bool)
            or not isinstance(sale_id, str)
            or not ObjectId.is_valid(sale_id)
            or sort not in ("date_desc", "date_asc")
        ):
            raise InvalidCursor("not a cursor this API issued")
        try:
            when = from_millis(millis)
        except (OverflowError, OSError, ValueError) as exc:
            raise InvalidCursor("not a cursor this API issued") from exc
        return cls(when, sale_id, sort)

    def after(self) -> dict[str, Any]:
        """The filter for the sales after this cursor in its order."""
        op = "$lt" if self.sort == "date_desc" else "$gt"
        oid = ObjectId(self.sale_id)
        return {"$or": [{"saleDate": {op: self.sale_date}}, {"saleDate": self.sale_date, "_id": {op: oid}}]}


def page_query(
    base: dict[str, Any], sort: SortOrder, cursor: Cursor | None
) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    """Filter and sort of one page; a cursor from another sort order is refused."""
    if cursor is not None and cursor.sort != sort:
        raise InvalidCursor("the cursor belongs to another sort order")
    direction = -1 if sort == "date_desc" else 1
    query = base if cursor is None else ({"$and": [base, cursor.after()]} if base else cursor.after())
    return query, [("saleDate", direction), ("_id", direction)]
