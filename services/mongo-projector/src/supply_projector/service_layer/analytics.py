"""Analytics figures from the copy's precomputed values (cents are summed, then shown as decimals)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol

from supply_projector.domain.document import money_text
from supply_projector.domain.queries import DateRange

META = "_supply"


class Aggregates(Protocol):
    def count(self, match: dict[str, Any], key: str | None = None) -> dict[Any, int]: ...

    def total(
        self, match: dict[str, Any], field: str, key: str | None = None, unwind: str | None = None
    ) -> dict[Any, int]: ...


def summary(reader: Aggregates, dates: DateRange) -> dict[str, Any]:
    match = dates.filter()
    revenue = reader.total(match, f"{META}.total_cents").get(None, 0)
    sales = reader.count(match).get(None, 0)
    items = reader.total(match, f"{META}.item_count").get(None, 0)
    mean = (Decimal(revenue) / 100 / sales).quantize(Decimal("0.01"), ROUND_HALF_EVEN) if sales else Decimal(0)
    return {"revenue": money_text(revenue), "sales": sales, "items": items, "mean_basket": str(mean)}


def by_key(reader: Aggregates, dates: DateRange, key: str) -> list[dict[str, Any]]:
    match = dates.filter()
    revenue = reader.total(match, f"{META}.total_cents", key)
    sales = reader.count(match, key)
    return [
        {"key": name, "revenue": money_text(revenue.get(name, 0)), "sales": sales[name]}
        for name in sorted(sales, key=lambda k: (k is None, k))
    ]


def top_items(reader: Aggregates, dates: DateRange, by: str, limit: int) -> list[dict[str, Any]]:
    match = dates.filter()
    lines = f"{META}.lines"
    revenue = reader.total(match, f"{lines}.revenue_cents", f"{lines}.name", unwind=lines)
    quantity = reader.total(match, f"{lines}.quantity", f"{lines}.name", unwind=lines)
    order: Callable[[str], tuple[int, int, str]] = (
        (lambda n: (-revenue.get(n, 0), -quantity.get(n, 0), n))
        if by == "revenue"
        else (lambda n: (-quantity.get(n, 0), -revenue.get(n, 0), n))
    )
    names = sorted(set(revenue) | set(quantity), key=order)[:limit]
    return [{"name": n, "revenue": money_text(revenue.get(n, 0)), "quantity": quantity.get(n, 0)} for n in names]


def satisfaction(reader: Aggregates, dates: DateRange) -> list[dict[str, Any]]:
    counts = reader.count(dates.filter(), "customer.satisfaction")
    return [{"score": score, "sales": counts.get(score, 0)} for score in range(1, 6)]


def coupons(reader: Aggregates, dates: DateRange) -> dict[str, Any]:
    match = dates.filter()
    total = reader.count(match).get(None, 0)
    used = reader.count({**match, "couponUsed": True}).get(None, 0)
    rate = (Decimal(used) / total).quantize(Decimal("0.0001"), ROUND_HALF_EVEN) if total else Decimal(0)
    return {"used": used, "total": total, "rate": float(rate)}
