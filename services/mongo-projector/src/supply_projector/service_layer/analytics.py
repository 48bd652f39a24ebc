"""Analytics figures from the rollups (cents are summed, then shown as decimals).

A window `[date_from, date_to)` is read as month buckets for its whole months, day buckets for the
whole days of the partial months at its ends (at most about 62), and, for an end that is not at
midnight UTC, the sales of that one partial day (through the `saleDate` index), so that an answer
reads a number of documents bounded by the window's months and days and one day's sales, never the
whole copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol

from supply_projector.domain.document import money_text
from supply_projector.domain.queries import DateRange
from supply_projector.domain.rollups import Counters, counters, day_bucket, month_bucket, month_of, name_of

DAY = timedelta(days=1)


class Rollups(Protocol):
    def months(self, first: str | None, end: str | None) -> dict[str, Counters]: ...

    def days(self, buckets: Sequence[str]) -> dict[str, Counters]:
        """Day buckets by id; absent ones left out."""
        ...

    def sales_between(self, start: datetime, end: datetime | None) -> list[dict[str, Any]]: ...


@dataclass
class Window:
    """What to read for a date range: months `[first_month, end_month)` (None: unbounded) unless
    `no_months`, day buckets, and partial days as `(start, end)` ranges of sales."""

    first_month: str | None = None
    end_month: str | None = None
    no_months: bool = False
    days: list[datetime] = field(default_factory=list)
    edges: list[tuple[datetime, datetime | None]] = field(default_factory=list)


def _midnight(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _later(when: datetime, step: timedelta) -> datetime | None:
    try:
        return when + step
    except OverflowError:
        return None


def _next_month(when: datetime) -> datetime | None:
    """The first instant of the month after `when`'s (a first of the month at midnight)."""
    if when.month == 12:
        return None if when.year == 9999 else when.replace(year=when.year + 1, month=1, day=1)
    return when.replace(month=when.month + 1, day=1)


def window(dates: DateRange) -> Window:
    found = Window()
    low, high = dates.date_from, dates.date_to
    if low is not None and low != _midnight(low):
        day_end = _later(_midnight(low), DAY)
        if day_end is None or (high is not None and high <= day_end):
            found.edges.append((low, high))
            found.no_months = True
            return found
        found.edges.append((low, day_end))
        low = day_end
    if high is not None and high != _midnight(high):
        found.edges.append((_midnight(high), high))
        high = _midnight(high)
    if low is not None and high is not None and low >= high:
        found.no_months = True
        return found
    months_from = None if low is None else (low if low.day == 1 else _next_month(low))
    months_to = None if high is None else high.replace(day=1)
    if months_from is None and low is not None:  # the whole rest lies in low's month (year 9999)
        found.days = list(_days(low, high))
        found.no_months = True
        return found
    if months_from is not None and months_to is not None and months_from >= months_to:
        found.days = list(_days(low, high))  # type: ignore[arg-type]
        found.no_months = True
        return found
    if low is not None and months_from is not None:
        found.days += list(_days(low, months_from))
    if high is not None and months_to is not None:
        found.days += list(_days(months_to, high))
    found.first_month = None if months_from is None else month_bucket(months_from)
    found.end_month = None if months_to is None else month_bucket(months_to)
    return found


def _days(start: datetime, end: datetime | None) -> Iterator[datetime]:
    day: datetime | None = start
    while day is not None and (end is None or day < end):
        yield day
        day = _later(day, DAY)


def _parts(reader: Rollups, dates: DateRange) -> list[tuple[str, Counters]]:
    """The window's counters as (month, counters) parts."""
    plan = window(dates)
    parts: list[tuple[str, Counters]] = []
    if not plan.no_months:
        parts += [(month_of(b), c) for b, c in reader.months(plan.first_month, plan.end_month).items()]
    parts += [(month_of(b), c) for b, c in reader.days([day_bucket(day) for day in plan.days]).items()]
    for start, end in plan.edges:
        for document in reader.sales_between(start, end):
            parts.append((month_of(month_bucket(document["saleDate"])), counters(document)))
    return parts


def _sum(parts: Sequence[tuple[str, Counters]]) -> Counters:
    summed: Counters = {}
    for _, values in parts:
        for path, value in values.items():
            summed[path] = summed.get(path, 0) + value
    return summed


def window_counters(reader: Rollups, dates: DateRange) -> Counters:
    """Every counter of the rollups summed over the window (an absent counter is 0)."""
    return _sum(_parts(reader, dates))


def _groups(summed: Counters, dimension: str) -> dict[str, dict[str, int]]:
    """`dimension.<name>.<measure>` counters as {name: {measure: value}}, for names with sales."""
    found: dict[str, dict[str, int]] = {}
    prefix = dimension + "."
    for path, value in summed.items():
        if path.startswith(prefix):
            name, _, measure = path[len(prefix) :].rpartition(".")
            found.setdefault(name_of(name), {})[measure] = value
    return {name: measures for name, measures in found.items() if measures.get("n", 0) > 0}


def summary(reader: Rollups, dates: DateRange) -> dict[str, Any]:
    summed = window_counters(reader, dates)
    revenue, sales = summed.get("c", 0), summed.get("n", 0)
    mean = (Decimal(revenue) / 100 / sales).quantize(Decimal("0.01"), ROUND_HALF_EVEN) if sales else Decimal(0)
    return {"revenue": money_text(revenue), "sales": sales, "items": summed.get("q", 0), "mean_basket": str(mean)}


DIMENSIONS = {"storeLocation": "store", "purchaseMethod": "method"}


def by_key(reader: Rollups, dates: DateRange, key: str) -> list[dict[str, Any]]:
    """Per store (`storeLocation`), purchase method (`purchaseMethod`) or month (`_supply.month`)."""
    parts = _parts(reader, dates)
    if key in DIMENSIONS:
        groups = _groups(_sum(parts), DIMENSIONS[key])
    else:
        groups = {}
        for month in sorted({month for month, _ in parts}):
            summed = _sum([part for part in parts if part[0] == month])
            if summed.get("n", 0) > 0:
                groups[month] = {"n": summed["n"], "c": summed.get("c", 0)}
    return [
        {"key": name, "revenue": money_text(groups[name].get("c", 0)), "sales": groups[name]["n"]}
        for name in sorted(groups)
    ]


MAX_DAYS = 92
"""The longest window `by_day` answers: a quarter of day buckets, whatever the copy holds."""


class WindowTooLong(ValueError):
    pass


def by_day(reader: Rollups, dates: DateRange) -> list[dict[str, Any]]:
    """Revenue and sales per UTC day (`YYYY-MM-DD`) with sales, for a bounded window of at most
    `MAX_DAYS` days: whole days come from day buckets, a partial day at either end from its sales."""
    low, high = dates.date_from, dates.date_to
    if low is None or high is None or high - low > timedelta(days=MAX_DAYS):
        raise WindowTooLong(f"give date_from and date_to at most {MAX_DAYS} days apart")
    whole: list[datetime] = []
    parts: list[tuple[str, Counters]] = []
    for day in _days(_midnight(low), high):
        end = _later(day, DAY)
        if day >= low and end is not None and end <= high:
            whole.append(day)
            continue
        for document in reader.sales_between(max(day, low), high if end is None else min(end, high)):
            parts.append((day.strftime("%Y-%m-%d"), counters(document)))
    parts += [(bucket.split(":", 1)[1], c) for bucket, c in reader.days([day_bucket(day) for day in whole]).items()]
    found: dict[str, Counters] = {}
    for day_key, values in parts:
        into = found.setdefault(day_key, {})
        for path, value in values.items():
            into[path] = into.get(path, 0) + value
    return [
        {"key": day_key, "revenue": money_text(found[day_key].get("c", 0)), "sales": found[day_key]["n"]}
        for day_key in sorted(found)
        if found[day_key].get("n", 0) > 0
    ]


def top_items(reader: Rollups, dates: DateRange, by: str, limit: int) -> list[dict[str, Any]]:
    items = _groups(window_counters(reader, dates), "item")
    revenue = {name: measures.get("c", 0) for name, measures in items.items()}
    quantity = {name: measures.get("q", 0) for name, measures in items.items()}
    order: Callable[[str], tuple[int, int, str]] = (
        (lambda n: (-revenue[n], -quantity[n], n)) if by == "revenue" else (lambda n: (-quantity[n], -revenue[n], n))
    )
    names = sorted(items, key=order)[:limit]
    return [{"name": n, "revenue": money_text(revenue[n]), "quantity": quantity[n]} for n in names]


def satisfaction(reader: Rollups, dates: DateRange) -> list[dict[str, Any]]:
    summed = window_counters(reader, dates)
    return [{"score": score, "sales": summed.get(f"sat.{score}", 0)} for score in range(1, 6)]


def coupons(reader: Rollups, dates: DateRange) -> dict[str, Any]:
    summed = window_counters(reader, dates)
    total, used = summed.get("n", 0), summed.get("coupon.true.n", 0)
    rate = (Decimal(used) / total).quantize(Decimal("0.0001"), ROUND_HALF_EVEN) if total else Decimal(0)
    return {"used": used, "total": total, "rate": float(rate)}
