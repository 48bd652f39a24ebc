"""The sale shape, its codec and hash, and the envelope: what every service relies on."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from bson import Decimal128, ObjectId
from bson.json_util import JSONOptions, loads
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from supply_common.contract import (
    METADATA_FIELD,
    Actor,
    EventSale,
    SaleBody,
    SaleEvent,
    canonical,
    decimal_text,
    document_hash,
    encode_change,
    from_document,
    from_extended_json,
    rfc3339,
    sale_hash,
    sale_total,
    to_document,
)
from supply_common.contract.codec import canonical_bytes
from supply_common.contract.sale import MAX_SALE_TOTAL
from supply_common.testing import SAMPLE_DATASET
from supply_common.testing.sales import sale_body


def sample_lines() -> list[str]:
    return SAMPLE_DATASET.read_text().splitlines()


def test_every_sample_record_round_trips_to_the_identical_bson_document() -> None:
    options = JSONOptions(tz_aware=True)
    for line in sample_lines():
        original = loads(line, json_options=options)
        assert to_document(from_extended_json(line)) == original


def test_bson_types_are_those_of_the_dataset() -> None:
    document = to_document(from_extended_json(sample_lines()[0]))
    assert isinstance(document["_id"], ObjectId)
    assert isinstance(document["saleDate"], datetime)
    assert isinstance(document["items"][0]["price"], Decimal128)
    assert type(document["items"][0]["quantity"]) is int
    assert type(document["customer"]["age"]) is int


def test_hash_ignores_form_but_not_content() -> None:
    sale = from_extended_json(sample_lines()[1])
    document = to_document(sale) | {METADATA_FIELD: {"version": 3}}
    assert sale_hash(from_document(document)) == sale_hash(sale)
    changed = sale.model_copy(update={"couponUsed": not sale.couponUsed})
    assert sale_hash(changed) != sale_hash(sale)


def test_decimals_are_normalised_so_mysql_scale_does_not_change_the_hash() -> None:
    sale = from_extended_json(sample_lines()[1])
    data = canonical(sale)
    assert "866.5" in {item["price"] for item in data["items"]}
    data["items"][3]["price"] = "866.50"
    assert sale_hash(from_document(data)) == sale_hash(sale)


def test_relaxed_extended_json_with_iso_dates_is_accepted() -> None:
    record = {
        "_id": {"$oid": "5bd761dcae323e45a93ccfe8"},
        "saleDate": {"$date": "2015-03-23T21:06:49.506Z"},
        "items": [{"name": "pens", "tags": ["office"], "price": {"$numberDecimal": "1.5"}, "quantity": 2}],
        "storeLocation": "Denver",
        "customer": {"gender": "F", "age": 30, "email": "a@example.com", "satisfaction": 4},
        "couponUsed": False,
        "purchaseMethod": "Phone",
    }
    sale = from_extended_json(json.dumps(record))
    assert sale.saleDate == datetime(2015, 3, 23, 21, 6, 49, 506000, tzinfo=UTC)
    assert sale.items[0].price == Decimal("1.5")


def _body(**changes: object) -> dict[str, object]:
    return sale_body(**{"saleDate": "2024-05-01T10:00:00.123456+02:00", **changes})


def test_dates_are_kept_in_utc_to_the_millisecond() -> None:
    sale = SaleBody.model_validate(_body())
    assert sale.saleDate == datetime(2024, 5, 1, 8, 0, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("1900-01-01T00:00:00Z", datetime(1900, 1, 1, tzinfo=UTC)),
        ("1899-12-31T19:00:00-05:00", datetime(1900, 1, 1, tzinfo=UTC)),
        ("2199-12-31T23:59:59.999Z", datetime(2199, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
        ("2200-01-01T00:59:59+01:00", datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("2015-03-23t21:06:49.506z", datetime(2015, 3, 23, 21, 6, 49, 506000, tzinfo=UTC)),
    ],
)
def test_dates_from_1900_to_before_2200_are_accepted_in_any_zone(text: str, utc: datetime) -> None:
    assert SaleBody.model_validate(_body(saleDate=text)).saleDate == utc
    assert SaleBody.model_validate_json(json.dumps(_body(saleDate=text))).saleDate == utc


@pytest.mark.parametrize(
    "form",
    [
        {"$date": "2015-03-23T21:06:49.506Z"},
        {"$date": {"$numberLong": "1427144809506"}},
        {"$date": 1427144809506},
    ],
)
def test_mongoexport_dates_are_accepted(form: object) -> None:
    record = _body(saleDate=form) | {"_id": {"$oid": "5bd761dcae323e45a93ccfe8"}}
    assert from_extended_json(json.dumps(record)).saleDate == datetime(2015, 3, 23, 21, 6, 49, 506000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"items": []}, "items"),
        ({"items": [{"name": "", "tags": [], "price": "1", "quantity": 1}]}, "items.0.name"),
        ({"items": [{"name": "a", "tags": [], "price": "-1", "quantity": 1}]}, "items.0.price"),
        ({"items": [{"name": "a", "tags": [], "price": "1.005", "quantity": 1}]}, "items.0.price"),
        ({"items": [{"name": "a", "tags": [], "price": "1", "quantity": 0}]}, "items.0.quantity"),
        ({"items": [{"name": "a", "tags": [], "price": "1", "quantity": "2"}]}, "items.0.quantity"),
        ({"purchaseMethod": "Fax"}, "purchaseMethod"),
        ({"storeLocation": {"$ne": None}}, "storeLocation"),
        ({"couponUsed": "yes"}, "couponUsed"),
        ({"saleDate": "2024-05-01T10:00:00"}, "saleDate"),
        ({"saleDate": "9999-12-31T23:00:00-05:00"}, "saleDate"),
        ({"saleDate": "0001-01-01T00:00:00+01:00"}, "saleDate"),
        ({"saleDate": "1899-12-31T23:59:59.999Z"}, "saleDate"),
        ({"saleDate": "2200-01-01T04:59:59-05:00"}, "saleDate"),
        ({"saleDate": 0}, "saleDate"),
        ({"saleDate": 1.7e9}, "saleDate"),
        ({"saleDate": "1700000000"}, "saleDate"),
        ({"saleDate": "2024-05-01"}, "saleDate"),
        ({"items": [{"name": "a", "tags": [], "price": "1_0", "quantity": 1}]}, "items.0.price"),
        ({"items": [{"name": "a", "tags": [], "price": " 1.5", "quantity": 1}]}, "items.0.price"),
        ({"items": [{"name": "a", "tags": [], "price": "1e2", "quantity": 1}]}, "items.0.price"),
        ({"items": [{"name": "a", "tags": [], "price": "+1", "quantity": 1}]}, "items.0.price"),
        ({"items": [{"name": "a", "tags": [], "price": True, "quantity": 1}]}, "items.0.price"),
        ({"items": [{"name": "a", "tags": [], "price": "1000000.01", "quantity": 1}]}, "items.0.price"),
        (
            {"items": [{"name": "a", "tags": [], "price": Decimal("1.0000000000000000001"), "quantity": 1}]},
            "items.0.price",
        ),
        ({"items": [{"name": "a\x00b", "tags": [], "price": "1", "quantity": 1}]}, "items.0.name"),
        ({"items": [{"name": " pens", "tags": [], "price": "1", "quantity": 1}]}, "items.0.name"),
        ({"items": [{"name": "a", "tags": ["of\u0085fice"], "price": "1", "quantity": 1}]}, "items.0.tags.0"),
        ({"items": [{"name": "a", "tags": ["office "], "price": "1", "quantity": 1}]}, "items.0.tags.0"),
        ({"items": [{"name": "a", "tags": ["  "], "price": "1", "quantity": 1}]}, "items.0.tags.0"),
        ({"items": [{"name": "a", "tags": [], "price": "1000000", "quantity": 101}]}, "items"),
        ({"customer": {"gender": " M", "age": 40, "email": "x@example.org", "satisfaction": 5}}, "customer.gender"),
        ({"customer": {"gender": "\t", "age": 40, "email": "x@example.org", "satisfaction": 5}}, "customer.gender"),
        ({"customer": {"gender": "M", "age": 40, "email": "x\x00@example.org", "satisfaction": 5}}, "customer.email"),
        ({"customer": {"gender": "M", "age": 121, "email": "x@example.org", "satisfaction": 5}}, "customer.age"),
        ({"customer": {"gender": "M", "age": 1, "email": "not-an-email", "satisfaction": 5}}, "customer.email"),
        ({"customer": {"gender": "M", "age": 1, "email": "x@example.org", "satisfaction": 6}}, "customer.satisfaction"),
        ({"role": "admin"}, "role"),
    ],
)
def test_invalid_sales_are_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SaleBody.model_validate(_body(**changes))
    locations = {".".join(str(p) for p in error["loc"]) for error in caught.value.errors()}
    assert any(loc == field or loc.startswith(field + ".") for loc in locations), locations


def test_the_largest_sale_accepted_has_a_total_in_cents_far_inside_64_bits() -> None:
    line = {"name": "laptop", "tags": [], "price": "1000000", "quantity": 1}
    sale = SaleBody.model_validate(_body(items=[line] * 100))
    assert sale_total(sale.items) == MAX_SALE_TOTAL
    assert MAX_SALE_TOTAL * 100 * 10**8 < 2**63  # a hundred million such sales still sum in int64
    with pytest.raises(ValidationError, match="total"):
        SaleBody.model_validate(_body(items=[line] * 99 + [{**line, "quantity": 2}]))


@pytest.mark.parametrize("text", ["1.0000000000000000001", "2.505", "1e-30"])
def test_a_json_number_price_is_refused_where_a_string_of_it_would_be(text: str) -> None:
    raw = json.dumps(_body(items=[{"name": "a", "tags": [], "price": "PRICE", "quantity": 1}]))
    for price in (text, f'"{text}"'):
        with pytest.raises(ValidationError) as caught:
            SaleBody.model_validate_json(raw.replace('"PRICE"', price))
        assert [error["loc"] for error in caught.value.errors()] == [("items", 0, "price")]
    record = json.loads(raw.replace('"PRICE"', "0")) | {"_id": {"$oid": "5bd761dcae323e45a93ccfe8"}}
    line = json.dumps(record).replace('"price": 0', f'"price": {text}')
    with pytest.raises(ValidationError):
        from_extended_json(line)


def test_plain_and_exact_prices_and_repeated_tags_are_accepted() -> None:
    for price, expected in [
        ("12.5", "12.5"),
        ("40", "40"),
        (40, "40"),
        (Decimal("0.10"), "0.1"),
        ("1000000.00", "1000000"),
    ]:
        item = {"name": "pens", "tags": ["office", "office"], "price": price, "quantity": 2}
        sale = SaleBody.model_validate(_body(items=[item]))
        assert decimal_text(sale.items[0].price) == expected
        assert sale.items[0].tags == ["office", "office"]
    record = json.dumps(_body() | {"_id": {"$oid": "5bd761dcae323e45a93ccfe8"}}).replace('"2.50"', "2.50")
    assert from_extended_json(record).items[0].price == Decimal("2.5")


def test_envelope_round_trips_and_enforces_data_rules() -> None:
    sale = from_extended_json(sample_lines()[0])
    event = SaleEvent.for_change(
        event_type="sale.updated", sale_id=sale.id, version=2, occurred_at=datetime.now(UTC), sale=sale
    )
    decoded = SaleEvent.from_bytes(event.to_bytes())
    assert decoded == event
    assert json.loads(event.to_bytes())["data"] == canonical(sale)
    raw = json.loads(event.to_bytes()) | {"unknown_later_field": 1}
    assert SaleEvent.from_bytes(json.dumps(raw).encode()).version == 2
    with pytest.raises(ValueError, match="data: null"):
        SaleEvent.from_bytes(json.dumps(raw | {"event_type": "sale.deleted"}).encode())
    with pytest.raises(ValueError, match="carries the sale"):
        SaleEvent.from_bytes(json.dumps(raw | {"data": None}).encode())
    with pytest.raises(ValueError):
        SaleEvent.from_bytes(b"\xff not json")


@settings(max_examples=500, deadline=None)
@given(text=st.text(st.characters(codec="utf-8")), number=st.integers(-(2**53), 2**53))
@example(text='\x00\x1f\x7f\u2028\u2029\ufeff"\\/', number=0)
def test_the_hashed_bytes_are_those_of_the_standard_library_encoder(text: str, number: int) -> None:
    # Stored content hashes were computed with json.dumps; the faster encoder must give the same bytes.
    sale = from_extended_json(sample_lines()[0])
    item = sale.items[0].model_copy(update={"name": text or "x", "tags": [text]})
    changed = sale.model_copy(update={"items": [item], "storeLocation": text, "customer": sale.customer})
    data = canonical(changed) | {"n": number}
    standard = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    assert orjson.dumps(data, option=orjson.OPT_SORT_KEYS) == standard
    assert document_hash(data) == hashlib.sha256(standard).hexdigest()
    assert (
        canonical_bytes(changed)
        == json.dumps(canonical(changed), ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    )


@pytest.mark.parametrize("kind", ["sale.created", "sale.updated", "sale.deleted"])
def test_an_encoded_change_is_the_contracts_own_bytes(kind: str) -> None:
    sale = from_extended_json(sample_lines()[0])
    data = canonical(sale) if kind != "sale.deleted" else None
    actor = Actor(user_id="worker-1", role="technical_worker")
    moment = datetime.fromisoformat("2024-05-01T10:00:00.123456+02:00")
    raw = encode_change(kind, sale.id, 3, moment, data, actor, repair=kind == "sale.updated")  # type: ignore[arg-type]
    event = SaleEvent.from_bytes(raw)
    assert event.to_bytes() == raw
    expected = SaleEvent.for_change(
        event_type=kind,  # type: ignore[arg-type]
        sale_id=sale.id,
        version=3,
        occurred_at=moment,
        sale=sale if data is not None else None,
        actor=actor,
        repair=kind == "sale.updated",
        event_id=event.event_id,
    )
    assert event == expected
    assert raw == expected.to_bytes()


def test_rfc3339_is_utc_to_the_millisecond_with_four_digit_years() -> None:
    moment = datetime.fromisoformat("2015-03-23T22:06:49.506789+01:00")
    assert rfc3339(moment) == "2015-03-23T21:06:49.506Z"
    assert rfc3339(datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02T03:04:05.000Z"


def test_event_data_built_from_a_valid_sale_equals_event_data_validated_from_scratch() -> None:
    for line in sample_lines()[:50]:
        sale = from_extended_json(line)
        built = EventSale.of(sale)
        validated = EventSale.model_validate(sale.model_dump(by_alias=True))
        assert built == validated
        assert canonical(built) == canonical(sale)
