"""Read queries as typed values, and how they become MongoDB filters.

Filters are built only from typed values (enums, booleans, dates, decimals, checked strings), so a
query value can never become an operator.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from bson import ObjectId

from supply_common.email_address import normalise_email
from supply_projector.domain.document import cents
from supply_projector.domain.rollups import key
from supply_projector.domain.search import Field, email_prefix, search_key

SortOrder = Literal["date_desc", "date_asc", "total_desc", "total_asc", "store_asc", "store_desc"]
MAX_PAGE = 100

META = "_supply"
TOTAL = f"{META}.total_cents"
NAMES = f"{META}.names"
TAGS = f"{META}.tags"
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "date": ("saleDate",),
    "total": (TOTAL,),
    "store": ("storeLocation", "saleDate"),
}
"""The fields each sort orders by, before `_id` (which breaks ties), all in the sort's direction."""
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
    """Staff's search. `item` and `tag`: a word start of an item's name or tag, in any case (see
    `domain.search`); `email`: the start of the customer's email, in any case. `item_names` and
    `tag_names`: the names `item` and `tag` match, as the words lookup gives them (`with_names`);
    a search with a word is turned into a filter only once they are known."""

    store: str | None = None
    method: str | None = None
    coupon: bool | None = None
    email: str | None = None
    item: str | None = None
    tag: str | None = None
    dates: DateRange = DateRange()
    total_min: Decimal | None = None
    total_max: Decimal | None = None
    item_names: tuple[str, ...] | None = None
    tag_names: tuple[str, ...] | None = None

    def words(self) -> dict[Field, str]:
        """The search keys of the word searches it holds (`domain.search.search_key`)."""
        searched: tuple[tuple[Field, str | None], ...] = (("item", self.item), ("tag", self.tag))
        return {field: key for field, text in searched if text is not None and (key := search_key(text))}

    def with_names(self, names: Mapping[Field, Sequence[str]]) -> SalesFilter:
        """The search with the names its words match."""
        return replace(
            self,
            item_names=tuple(names["item"]) if "item" in names else None,
            tag_names=tuple(names["tag"]) if "tag" in names else None,
        )

    def filter(self) -> dict[str, Any]:
        """A string compared with a field is never an operator, whatever it holds (`$ne`, braces).
        A word is an equality of `_supply.names` or `_supply.tags` with one of the names it matches
        (`$or` of equalities rather than `$in`: FerretDB's SQLite pushdown serves the former)."""
        query: dict[str, Any] = {}
        for name, value in (
            ("storeLocation", self.store),
            ("purchaseMethod", self.method),
            ("couponUsed", self.coupon),
        ):
            if value is not None:
                query[name] = value
        words = self.words()
        either: list[dict[str, Any]] = []
        for field, path, names in (("item", NAMES, self.item_names), ("tag", TAGS, self.tag_names)):
            if field not in words:
                continue
            if names is None:
                raise ValueError(f"the names that the {field} search matches are not known yet")
            if len(names) == 1:
                query[path] = names[0]
            else:
                either.append({"$or": [{path: name} for name in names]} if names else {path: {"$in": []}})
        if len(either) == 1:
            query.update(either[0])
        elif either:
            query["$and"] = either
        if self.email is not None and self.email.strip():
            query.update(email_prefix(self.email))
        query.update(self.dates.filter())
        total: dict[str, int] = {}
        if self.total_min is not None:
            total["$gte"] = cents(self.total_min)
        if self.total_max is not None:
            total["$lte"] = cents(self.total_max)
        if total:
            query[TOTAL] = total
        return query

    def rollup_counters(self) -> tuple[str, str] | None:
        """The rollup counters that hold the whole match's number of sales and its cents, when the
        rollups can answer this search: no filter, or one of store, purchase method and coupon alone,
        each with or without a date range (the buckets hold those marginals). None for any other
        search (item, tag, email, a total range, two dimensions together): it must be counted from
        the sales themselves."""
        if (
            self.words()
            or (self.email is not None and self.email.strip())
            or self.total_min is not None
            or self.total_max is not None
        ):
            return None
        dimensions = [
            (name, value)
            for name, value in (
                ("store", self.store),
                ("method", self.method),
                ("coupon", None if self.coupon is None else ("true" if self.coupon else "false")),
            )
            if value is not None
        ]
        if not dimensions:
            return "n", "c"
        if len(dimensions) > 1:
            return None
        name, value = dimensions[0]
        prefix = f"{name}.{key(value)}."
        return prefix + "n", prefix + "c"


def to_millis(when: datetime) -> int:
    """Milliseconds since the epoch, in integers: `timestamp() * 1000` is a float product that lands
    1 ms low for some dates (2004-05-16T15:09:43.475Z gives ...474), and a cursor 1 ms off repeats or
    skips the sales at its date."""
    return (when - EPOCH) // MILLISECOND


def from_millis(millis: int) -> datetime:
    """The UTC date `millis` milliseconds after the epoch (OverflowError outside years 1-9999)."""
    return EPOCH + timedelta(milliseconds=millis)


def sort_fields(sort: SortOrder) -> tuple[tuple[str, ...], int]:
    """The fields a sort orders by (before `_id`) and its direction."""
    name, direction = sort.split("_")
    return SORT_KEYS[name], (-1 if direction == "desc" else 1)


def _encode_key(value: Any) -> Any:
    return {"d": to_millis(value)} if isinstance(value, datetime) else value


def _decode_key(field: str, value: Any) -> Any:
    """The value of `field` a cursor holds, or InvalidCursor when it is not of the field's type."""
    if field == "saleDate":
        millis = value.get("d") if isinstance(value, dict) else None
        if not isinstance(millis, int) or isinstance(millis, bool):
            raise InvalidCursor("not a cursor this API issued")
        try:
            return from_millis(millis)
        except (OverflowError, OSError, ValueError) as exc:
            raise InvalidCursor("not a cursor this API issued") from exc
    wanted = int if field == TOTAL else str
    if not isinstance(value, wanted) or isinstance(value, bool):
        raise InvalidCursor("not a cursor this API issued")
    return value


@dataclass(frozen=True)
class Cursor:
    """Where a page ended (or, `backwards`, where the next page began): the sort fields' values and
    the `_id` of that sale, in a given sort order."""

    keys: tuple[Any, ...]
    sale_id: str
    sort: SortOrder
    backwards: bool = False

    @classmethod
    def of(cls, document: dict[str, Any], sort: SortOrder, *, backwards: bool = False) -> Cursor:
        fields, _ = sort_fields(sort)
        keys = []
        for field in fields:
            value: Any = document
            for part in field.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            keys.append(int(value) if field == TOTAL and value is not None else value)
        return cls(tuple(keys), str(document["_id"]), sort, backwards)

    def encode(self) -> str:
        data = {"k": [_encode_key(k) for k in self.keys], "i": self.sale_id, "s": self.sort, "b": int(self.backwards)}
        raw = json.dumps(data, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            data = json.loads(raw)
            keys, sale_id, sort, backwards = data["k"], data["i"], data["s"], data["b"]
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise InvalidCursor("not a cursor this API issued") from exc
        if (
            not isinstance(sale_id, str)
            or not ObjectId.is_valid(sale_id)
            or sort not in SORTS
            or backwards not in (0, 1)
            or not isinstance(keys, list)
        ):
            raise InvalidCursor("not a cursor this API issued")
        fields, _ = sort_fields(sort)
        if len(keys) != len(fields):
            raise InvalidCursor("not a cursor this API issued")
        return cls(tuple(_decode_key(f, k) for f, k in zip(fields, keys, strict=True)), sale_id, sort, bool(backwards))

    def after(self) -> dict[str, Any]:
        """The filter for the sales past this cursor in its order (before it when `backwards`)."""
        fields, direction = sort_fields(self.sort)
        forward = (direction == 1) != self.backwards
        op = "$gt" if forward else "$lt"
        pairs = [*zip(fields, self.keys, strict=True), ("_id", ObjectId(self.sale_id))]
        branches = []
        for i, (field, value) in enumerate(pairs):
            branch: dict[str, Any] = dict(pairs[:i])
            branch[field] = {op: value}
            branches.append(branch)
        return {"$or": branches}


SORTS: tuple[str, ...] = ("date_desc", "date_asc", "total_desc", "total_asc", "store_asc", "store_desc")


def page_query(
    base: dict[str, Any], sort: SortOrder, cursor: Cursor | None
) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    """Filter and sort of one page; a cursor from another sort order is refused. A backwards cursor
    gives the page before it in reverse order (the reader turns it round)."""
    if cursor is not None and cursor.sort != sort:
        raise InvalidCursor("the cursor belongs to another sort order")
    fields, direction = sort_fields(sort)
    if cursor is not None and cursor.backwards:
        direction = -direction
    query = base if cursor is None else ({"$and": [base, cursor.after()]} if base else cursor.after())
    return query, [*((field, direction) for field in fields), ("_id", direction)]
