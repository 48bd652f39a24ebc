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
from supply_projector.domain.search import key_range, matches, word_entries, word_starts

from .events import BASE_TIME, SAMPLES, event


def test_filter_is_built_from_typed_values_only() -> None:
    query = (
        SalesFilter(
            store="Denver",
            coupon=False,
            email="A@Example.com",
            item="pens",
            tag="office",
            dates=DateRange(datetime(2015, 1, 1, tzinfo=UTC), datetime(2016, 1, 1, tzinfo=UTC)),
            total_min=Decimal("10.5"),
            total_max=Decimal("20"),
        )
        .with_names({"item": ["Pens", "pens"], "tag": ["office"]})
        .filter()
    )
    assert query == {
        "storeLocation": "Denver",
        "couponUsed": False,
        "customer.email": {"$gte": "a@example.com", "$lt": "a@example.con"},
        "$or": [{"_supply.names": "Pens"}, {"_supply.names": "pens"}],
        "_supply.tags": "office",
        "saleDate": {"$gte": datetime(2015, 1, 1, tzinfo=UTC), "$lt": datetime(2016, 1, 1, tzinfo=UTC)},
        "_supply.total_cents": {"$gte": 1050, "$lte": 2000},
    }


def test_an_operator_looking_string_is_compared_as_a_string() -> None:
    assert SalesFilter(email="$ne").filter() == {"customer.email": {"$gte": "$ne", "$lt": "$nf"}}
    query = SalesFilter(item='{"$ne": null}', tag="$gt").with_names({"item": ['{"$ne": null}'], "tag": ["$gt"]})
    assert query.filter() == {"_supply.names": '{"$ne": null}', "_supply.tags": "$gt"}


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
    when = datetime(2015, 3, 23, 21, 6, 49, 506000, tzinfo=UTC)
    for cursor in (
        Cursor((when,), "5bd761dcae323e45a93ccfe8", "date_asc"),
        Cursor((4001,), "5bd761dcae323e45a93ccfe8", "total_desc", backwards=True),
        Cursor(("New York", when), "5bd761dcae323e45a93ccfe8", "store_asc"),
    ):
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
        cursor = Cursor((when,), "5bd761dcae323e45a93ccfe8", "date_desc")
        assert Cursor.decode(cursor.encode()).keys == (when,), when


@pytest.mark.parametrize(
    "text",
    [
        "",
        "!!!",
        "eyJ9",
        "eyJkIjoxLCJpIjoiJG5lIiwicyI6ImRhdGVfZGVzYyJ9",
        "eyJkIjp0cnVlLCJpIjoiYSIsInMiOiJ4In0",
        Cursor(("Denver",), "5bd761dcae323e45a93ccfe8", "total_asc").encode(),  # a name where a number is
        Cursor(("Denver",), "5bd761dcae323e45a93ccfe8", "store_asc").encode(),  # the date is missing
    ],
)
def test_a_tampered_cursor_is_refused(text: str) -> None:
    with pytest.raises(InvalidCursor):
        Cursor.decode(text)


def test_page_after_a_cursor_continues_strictly_past_it() -> None:
    when = datetime(2015, 1, 1, tzinfo=UTC)
    cursor = Cursor((when,), "5bd761dcae323e45a93ccfe8", "date_desc")
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


def test_page_by_store_continues_past_the_store_then_the_date_then_the_id() -> None:
    when = datetime(2015, 1, 1, tzinfo=UTC)
    oid = ObjectId("5bd761dcae323e45a93ccfe8")
    query, order = page_query({}, "store_desc", Cursor(("Denver", when), str(oid), "store_desc"))
    assert order == [("storeLocation", -1), ("saleDate", -1), ("_id", -1)]
    assert query == {
        "$or": [
            {"storeLocation": {"$lt": "Denver"}},
            {"storeLocation": "Denver", "saleDate": {"$lt": when}},
            {"storeLocation": "Denver", "saleDate": when, "_id": {"$lt": oid}},
        ]
    }


def test_the_page_before_a_cursor_is_read_in_the_opposite_order() -> None:
    oid = ObjectId("5bd761dcae323e45a93ccfe8")
    query, order = page_query({}, "total_desc", Cursor((500,), str(oid), "total_desc", backwards=True))
    assert order == [("_supply.total_cents", 1), ("_id", 1)]
    assert query == {"$or": [{"_supply.total_cents": {"$gt": 500}}, {"_supply.total_cents": 500, "_id": {"$gt": oid}}]}


@pytest.mark.parametrize(
    ("given", "words"),
    [
        (SalesFilter(item="  NOTE "), {"item": "note"}),
        (SalesFilter(item="Printer   Pa"), {"item": "printer pa"}),
        (SalesFilter(tag="Office"), {"tag": "office"}),
        (SalesFilter(item=" ", tag=" "), {}),
        (SalesFilter(email="Ann.B"), {}),
    ],
)
def test_searches_are_by_word_start_in_any_case(given: SalesFilter, words: dict) -> None:
    assert given.words() == words


def test_a_word_search_needs_its_names_and_matches_any_of_them() -> None:
    with pytest.raises(ValueError, match="item search"):
        SalesFilter(item="pen").filter()
    assert SalesFilter(email="Ann.B").filter() == {"customer.email": {"$gte": "ann.b", "$lt": "ann.c"}}
    both = SalesFilter(item="pe", tag="o").with_names({"item": ["pens", "Pencil"], "tag": ["office", "Outdoor"]})
    assert both.filter() == {
        "$and": [
            {"$or": [{"_supply.names": "pens"}, {"_supply.names": "Pencil"}]},
            {"$or": [{"_supply.tags": "office"}, {"_supply.tags": "Outdoor"}]},
        ]
    }


def test_a_name_is_found_from_each_of_its_word_starts_and_only_from_those() -> None:
    assert word_starts("  Printer   Paper ") == ["printer paper", "paper"]
    assert word_starts(" ") == []
    assert matches("printer pa", "Printer Paper")
    assert matches("pap", "Printer PAPER")
    assert not matches("rinter", "Printer Paper")
    assert not matches("", "Printer Paper")
    entries = word_entries("item", ["Printer Paper", "Printer Paper", "pens"])
    assert entries == {
        "item:printer paper|Printer Paper": "Printer Paper",
        "item:paper|Printer Paper": "Printer Paper",
        "item:pens|pens": "pens",
    }
    bounds = key_range("item", "pap")
    inside = [entry for entry in entries if bounds["$gte"] <= entry < bounds["$lt"]]
    assert inside == ["item:paper|Printer Paper"]


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
