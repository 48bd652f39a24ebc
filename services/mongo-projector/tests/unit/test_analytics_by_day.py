"""Revenue per day: whole days from the day buckets, the partial days at the ends from their sales."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from supply_common.contract import Sale, SaleEvent, decimal_text, sale_total
from supply_projector.domain.document import stored_document
from supply_projector.domain.queries import DateRange
from supply_projector.domain.rollups import Counters, counters
from supply_projector.service_layer.analytics import MAX_DAYS, WindowTooLong, by_day

from .events import SAMPLES
from .stored_rollups import StoredRollups

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
NOW = datetime(2024, 1, 1, tzinfo=UTC)


def at(sale: Sale, when: datetime) -> dict[str, Any]:
    moved = sale.model_copy(update={"saleDate": when})
    made = stored_document(
        SaleEvent.for_change(event_type="sale.created", sale_id=moved.id, version=1, occurred_at=NOW, sale=moved), NOW
    )
    assert made is not None
    return made


class Copy(StoredRollups):
    def months(self, first: str | None, end: str | None) -> dict[str, Counters]:
        raise AssertionError("a day report never reads month buckets")


def day(text: str, hour: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(hour=hour, tzinfo=UTC)


def test_days_with_sales_are_listed_with_their_exact_revenue_and_days_without_are_left_out() -> None:
    documents = [
        at(SAMPLES[0], day("2017-03-01", 9)),
        at(SAMPLES[1], day("2017-03-01", 18)),
        at(SAMPLES[2], day("2017-03-04", 12)),
    ]
    copy = Copy(documents)
    rows = by_day(copy, DateRange(day("2017-03-01"), day("2017-03-08")))
    first = sale_total(list(SAMPLES[0].items)) + sale_total(list(SAMPLES[1].items))
    assert rows == [
        {"key": "2017-03-01", "revenue": decimal_text(first), "sales": 2},
        {"key": "2017-03-04", "revenue": decimal_text(sale_total(list(SAMPLES[2].items))), "sales": 1},
    ]
    assert copy.sales_read == [], "whole days come from their buckets"


def test_a_partial_day_at_either_end_counts_only_its_sales_inside_the_window() -> None:
    copy = Copy([at(SAMPLES[0], day("2017-03-01", 9)), at(SAMPLES[1], day("2017-03-03", 18))])
    rows = by_day(copy, DateRange(day("2017-03-01", 12), day("2017-03-03", 20)))
    assert [(row["key"], row["sales"]) for row in rows] == [("2017-03-03", 1)]
    assert len(copy.sales_read) == 2
    assert sum(Decimal(row["revenue"]) for row in rows) == Decimal(counters(copy.documents[1])["c"]) / 100


def test_an_open_or_too_long_window_is_refused() -> None:
    copy = Copy([])
    for window in (
        DateRange(None, day("2017-03-01")),
        DateRange(day("2017-03-01"), None),
        DateRange(day("2017-01-01"), day("2017-01-01") + timedelta(days=MAX_DAYS + 1)),
    ):
        with pytest.raises(WindowTooLong):
            by_day(copy, window)
    assert by_day(copy, DateRange(day("2017-01-01"), day("2017-01-01") + timedelta(days=MAX_DAYS))) == []
