"""Filters from typed values, the cursor codec, and money storage."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from bson import Decimal128, ObjectId

from supply_common.contract import METADATA_FIELD, Sale, sale_total, to_document
from supply_projector.domain import money
from supply_projector.domain.document import stored_document
from supply_projector.domain.queries import Cursor, DateRange, InvalidCursor, SalesFilter, date_bound, page_query

from .events import BASE_TIME, SAMPLES, event


def test_filter_is_built_from_typed_values_only() -> None:
    query = SalesFilter(
        store="Denver",
        coupon=False,
        email="A@Example.com",
        item="pens",
        tag="office",
        dates=DateRange(datetime(2015, 1, 1, tzinfo=UTC), datetime(2016, 1, 1, tzinfo=UTC)),
        total_min=Decimal("10.5"),
        total_max=Decimal("20"),
    ).filter()
    assert query == {
        "storeLocation": "Denver",
        "couponUsed": False,
        "customer.email": "a@example.com",
        "items.name": "pens",
        "_supply.tags": "office",
        "saleDate": {"$gte": datetime(2015, 1, 1, tzinfo=UTC), "$lt": datetime(2016, 1, 1, tzinfo=UTC)},
        "_supply.total_cents": {"$gte": 1050, "$lte": 2000},
    }


def test_an_operator_looking_string_is_compared_as_a_string() -> None:
    assert SalesFilter(email="$ne").filter() == {"customer.email": "$ne"}
    query = SalesFilter(item='{"$ne": null}', tag="$gt").filter()
    assert query == {"items.name": '{"$ne": null}', "_supply.tags": "$gt"}


@pytest.mark.parametrize(
    ("given", "bound"),
    [
        ("2015-03-23T21:06:49.5061+00:00", "2015-03-23T21:06:49.507000+00:00"),
        ("2015-03-23T21:06:49.506+00:00", "2015-03-23T21:06:49.506000+00:00"),
        ("2015-03-23T21:06:49.999001+00:00", "2015-03-23T21:06:50+00:00"),
        ("2015-03-23T23:06:49.000001+02:00", "2015-03-23T21:06:49.001000+00:00"),
    ],
)
def test_a_date_bound_moves_up_to_the_next_whole_millisecond(given: str, bound: str) -> None:
    assert date_bound(datetime.fromisoformat(given)).isoformat() == bound


def test_no_filter_is_an_empty_query() -> None:
    assert SalesFilter().filter() == {}


def test_cursor_round_trips() -> None:
    cursor = Cursor(datetime(2015, 3, 23, 21, 6, 49, 506000, tzinfo=UTC), "5bd761dcae323e45a93ccfe8", "date_asc")
    assert Cursor.decode(cursor.encode()) == cursor


def test_cursor_keeps_every_millisecond_exactly() -> None:
    """A cursor 1 ms off repeats or skips the sales at its date; floats get about 0.6% of dates wrong."""
    rng = random.Random(5)
    first, last = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    span = (last - first) // timedelta(milliseconds=1)
    awkward = datetime(2004, 5, 16, 15, 9, 43, 475000, tzinfo=UTC)
    dates = [first, last, awkward, datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)]
    dates += [awkward + timedelta(milliseconds=n) for n in range(-2000, 2000)]
    dates += [first + timedelta(milliseconds=rng.randrange(span + 1)) for _ in range(20_000)]
    for when in dates:
        cursor = Cursor(when, "5bd761dcae323e45a93ccfe8", "date_desc")
        assert Cursor.decode(cursor.encode()).sale_date == when, when


@pytest.mark.parametrize(
    "text", ["", "!!!", "eyJ9", "eyJkIjoxLCJpIjoiJG5lIiwicyI6ImRhdGVfZGVzYyJ9", "eyJkIjp0cnVlLCJpIjoiYSIsInMiOiJ4In0"]
)
def test_a_tampered_cursor_is_refused(text: str) -> None:
    with pytest.raises(InvalidCursor):
        Cursor.decode(text)


def test_page_after_a_cursor_continues_strictly_past_it() -> None:
    when = datetime(2015, 1, 1, tzinfo=UTC)
    cursor = Cursor(when, "5bd761dcae323e45a93ccfe8", "date_desc")
    query, order = page_query({"storeLocation": "Denver"}, "date_desc", cursor)
    assert order == [("saleDate", -1), ("_id", -1)]
    assert query == {
        "$and": [
            {"storeLocation": "Denver"},
            {
                "$or": [
                    {"saleDate": {"$lt": when}},
                    {"saleDate": when, "_id": {"$lt": ObjectId("5bd761dcae323e45a93ccfe8")}},
                ]
            },
        ]
    }
    with pytest.raises(InvalidCursor):
        page_query({}, "date_asc", cursor)


@pytest.mark.parametrize("sale", SAMPLES)
def test_money_as_double_decodes_to_the_exact_decimal(sale: object) -> None:
    document = to_document(sale) | {METADATA_FIELD: {"total": Decimal128("123.45")}}  # type: ignore[arg-type]
    stored = money.encode(document, "double")
    assert all(isinstance(item["price"], float) for item in stored["items"])
    assert money.decode(stored, "double") == document
    assert money.encode(document, "decimal128") == document


@pytest.mark.parametrize("sale", SAMPLES)
def test_the_stored_document_is_written_with_the_dataset_money(sale: Sale) -> None:
    """The projection holds prices and the total as Decimal; the store writes Decimal128 where the
    server has it (type for type the dataset) and doubles that read back as the same Decimal128."""
    change = event(sale, 1, kind="create")
    stored = stored_document(change, BASE_TIME)
    assert stored is not None
    assert change.data is not None
    as_decimal128 = money.encode(stored, "decimal128")
    total = as_decimal128[METADATA_FIELD]["total"]
    assert {k: v for k, v in as_decimal128.items() if k != METADATA_FIELD} == to_document(change.data)
    assert isinstance(total, Decimal128)
    assert total.to_decimal() == sale_total(list(change.data.items))
    as_double = money.encode(stored, "double")
    assert all(isinstance(item["price"], float) for item in as_double["items"])
    assert isinstance(as_double[METADATA_FIELD]["total"], float)
    assert money.decode(as_double, "double") == as_decimal128


def test_money_text_survives_the_largest_price() -> None:
    price = Decimal("9999999999.99")
    assert money.decode({"items": [{"price": float(price)}]}, "double")["items"][0]["price"] == Decimal128(
        "9999999999.99"
    )
