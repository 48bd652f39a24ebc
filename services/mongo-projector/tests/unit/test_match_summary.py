"""Which way the summary of a search goes (rollups, or a capped read of the sales), and what each way
answers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from supply_projector.domain.queries import DateRange, SalesFilter
from supply_projector.service_layer.match_summary import MatchSummary, summarise

from .stored_rollups import StoredRollups
from .test_analytics_by_day import SAMPLES, at

MARCH = DateRange(datetime(2017, 3, 1, 12, tzinfo=UTC), datetime(2017, 4, 2, 6, tzinfo=UTC))


@pytest.mark.parametrize(
    ("search", "counters"),
    [
        (SalesFilter(), ("n", "c")),
        (SalesFilter(dates=MARCH), ("n", "c")),
        (SalesFilter(store="New York"), ("store.New York.n", "store.New York.c")),
        (SalesFilter(store="Denver", dates=MARCH), ("store.Denver.n", "store.Denver.c")),
        (SalesFilter(method="In store"), ("method.In store.n", "method.In store.c")),
        (SalesFilter(method="Online", dates=DateRange(None, MARCH.date_to)), ("method.Online.n", "method.Online.c")),
        (SalesFilter(coupon=True), ("coupon.true.n", "coupon.true.c")),
        (SalesFilter(coupon=False, dates=MARCH), ("coupon.false.n", "coupon.false.c")),
        (SalesFilter(item="  ", email=" "), ("n", "c")),
    ],
)
def test_no_filter_or_one_dimension_alone_with_any_dates_is_answered_from_the_rollups(
    search: SalesFilter, counters: tuple[str, str]
) -> None:
    assert search.rollup_counters() == counters


@pytest.mark.parametrize(
    "search",
    [
        SalesFilter(item="note"),
        SalesFilter(tag="office", dates=MARCH),
        SalesFilter(email="ann"),
        SalesFilter(total_min=Decimal("0.00")),
        SalesFilter(total_max=Decimal("100.00"), store="Denver"),
        SalesFilter(store="Denver", method="Online"),
        SalesFilter(store="Denver", coupon=False),
        SalesFilter(method="Phone", coupon=True, dates=MARCH),
    ],
)
def test_any_other_search_is_counted_from_the_sales(search: SalesFilter) -> None:
    assert search.rollup_counters() is None


class Copy(StoredRollups):
    """Stored sales and their rollups, remembering how many sales each count read."""

    def __init__(self, documents: Sequence[dict[str, Any]]) -> None:
        super().__init__(documents)
        self.limits: list[int] = []

    def cents_of(self, match: dict[str, Any], limit: int) -> list[int]:
        self.limits.append(limit)
        found = [d for d in self.documents if all(_meets(_at(d, k), v) for k, v in match.items())]
        return [int(d["_supply"]["total_cents"]) for d in found][:limit]


def _at(document: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        document = document[part]
    return document


def _meets(value: Any, condition: Any) -> bool:
    """Equality, or the range operators a total range is made of."""
    if isinstance(condition, dict):
        return all({"$gte": value >= bound, "$lte": value <= bound}[op] for op, bound in condition.items())
    return bool(value == condition)


def when(day: int, hour: int = 0, month: int = 3) -> datetime:
    return datetime(2017, month, day, hour, tzinfo=UTC)


COPY = Copy(
    [
        at(SAMPLES[0], when(1, 9)),  # before the window's first instant, on its first day
        at(SAMPLES[1], when(1, 12)),  # exactly at date_from: in
        at(SAMPLES[2], when(15, 3)),
        at(SAMPLES[3], when(2, 6, month=4)),  # exactly at date_to: out
        at(SAMPLES[4], when(2, 5, month=4)),
        at(SAMPLES[5], when(9, 1, month=5)),
    ]
)


def cents(documents: Sequence[dict[str, Any]]) -> int:
    return sum(int(d["_supply"]["total_cents"]) for d in documents)


def test_the_rollups_count_exactly_the_sales_inside_a_window_that_is_not_made_of_whole_days() -> None:
    inside = [d for d in COPY.documents if MARCH.date_from <= d["saleDate"] < MARCH.date_to]  # type: ignore[operator]
    assert summarise(SalesFilter(dates=MARCH), COPY, COPY, cap=1) == MatchSummary(
        len(inside), cents(inside), "exact_from_rollups"
    )
    store = SAMPLES[2].storeLocation
    in_store = [d for d in inside if d["storeLocation"] == store]
    assert summarise(SalesFilter(store=store, dates=MARCH), COPY, COPY, cap=1) == MatchSummary(
        len(in_store), cents(in_store), "exact_from_rollups"
    )
    assert COPY.limits == [], "no sale was counted one by one"


def test_a_match_larger_than_the_cap_is_a_lower_bound_without_a_total() -> None:
    copy = Copy(COPY.documents)
    found = summarise(SalesFilter(total_min=Decimal(0)), copy, copy, cap=2)
    assert found == MatchSummary(2, None, "lower_bound")
    assert found.more
    assert copy.limits == [3], "at most one sale past the cap is read"


def test_a_match_within_the_cap_is_counted_and_totalled_exactly_by_reading_it() -> None:
    copy = Copy(COPY.documents)
    store = SAMPLES[2].storeLocation
    matching = [d for d in copy.documents if d["storeLocation"] == store and d["couponUsed"] is SAMPLES[2].couponUsed]
    found = summarise(SalesFilter(store=store, coupon=SAMPLES[2].couponUsed), copy, copy, cap=len(matching))
    assert found == MatchSummary(len(matching), cents(matching), "exact_by_reading")
    assert not found.more
    everything = summarise(SalesFilter(total_min=Decimal(0)), copy, copy, cap=len(copy.documents))
    assert everything == MatchSummary(len(copy.documents), cents(copy.documents), "exact_by_reading")


def test_while_the_rollups_are_being_built_even_a_search_they_serve_is_counted_from_the_sales() -> None:
    copy = Copy(COPY.documents)
    copy.built = False
    store = SAMPLES[2].storeLocation
    matching = [d for d in copy.documents if d["storeLocation"] == store]
    assert summarise(SalesFilter(store=store), copy, copy, cap=len(matching)) == MatchSummary(
        len(matching), cents(matching), "exact_by_reading"
    )
