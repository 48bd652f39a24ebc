"""Every rule of the data dictionary: a bad value gets a 4xx naming the field, and nothing is written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from supply_sales_writer.adapters.schema import outbox

pytestmark = pytest.mark.integration

ITEM = {"name": "pens", "tags": ["office"], "price": "2.50", "quantity": 3}
CUSTOMER = {"gender": "F", "age": 40, "email": "x@example.org", "satisfaction": 5}


def item(**changes: Any) -> dict[str, Any]:
    return {"items": [ITEM | changes]}


def customer(**changes: Any) -> dict[str, Any]:
    return {"customer": CUSTOMER | changes}


CASES = [
    ("no items", {"items": []}, "items"),
    ("101 items", {"items": [ITEM] * 101}, "items"),
    ("empty item name", item(name=""), "items.0.name"),
    ("blank item name", item(name="   "), "items.0.name"),
    ("negative price", item(price="-0.01"), "items.0.price"),
    ("three decimals", item(price="1.005"), "items.0.price"),
    ("price not a number", item(price="cheap"), "items.0.price"),
    ("price with an underscore", item(price="1_0"), "items.0.price"),
    ("price padded", item(price=" 2.50 "), "items.0.price"),
    ("price in exponent form", item(price="1e2"), "items.0.price"),
    ("price over a million", item(price="1000000.01"), "items.0.price"),
    ("sale total over 100 million", {"items": [ITEM | {"price": "1000000", "quantity": 1_000}] * 2}, "items"),
    ("NUL in a name", item(name="pe\x00ns"), "items.0.name"),
    ("padded name", item(name="pens "), "items.0.name"),
    ("control character in a tag", item(tags=["of\x1bfice"]), "items.0.tags.0"),
    ("blank tag", item(tags=["   "]), "items.0.tags.0"),
    ("padded tag", item(tags=[" office"]), "items.0.tags.0"),
    ("blank gender", customer(gender=" "), "customer.gender"),
    ("padded gender", customer(gender="F\n"), "customer.gender"),
    ("quantity zero", item(quantity=0), "items.0.quantity"),
    ("quantity as text", item(quantity="2"), "items.0.quantity"),
    ("fractional quantity", item(quantity=1.5), "items.0.quantity"),
    ("unknown item field", item(colour="red"), "items.0.colour"),
    ("tag not a string", item(tags=[1]), "items.0.tags.0"),
    ("unknown purchase method", {"purchaseMethod": "Fax"}, "purchaseMethod"),
    ("unknown store", {"storeLocation": "Paris"}, "storeLocation"),
    ("operator as store", {"storeLocation": {"$ne": None}}, "storeLocation"),
    ("coupon as text", {"couponUsed": "yes"}, "couponUsed"),
    ("date without zone", {"saleDate": "2024-05-01T10:00:00"}, "saleDate"),
    ("date not a date", {"saleDate": "yesterday"}, "saleDate"),
    ("date at the calendar's end", {"saleDate": "9999-12-31T23:00:00-05:00"}, "saleDate"),
    ("date at the calendar's start", {"saleDate": "0001-01-01T00:00:00+01:00"}, "saleDate"),
    ("date before 1900", {"saleDate": "1899-12-31T23:59:59.999Z"}, "saleDate"),
    ("date from 2200", {"saleDate": "2200-01-01T00:00:00Z"}, "saleDate"),
    ("date as epoch seconds", {"saleDate": 0}, "saleDate"),
    ("date as epoch seconds in a string", {"saleDate": "1700000000"}, "saleDate"),
    ("date with a space for T", {"saleDate": "2024-05-01 10:00:00Z"}, "saleDate"),
    ("satisfaction 0", customer(satisfaction=0), "customer.satisfaction"),
    ("satisfaction 6", customer(satisfaction=6), "customer.satisfaction"),
    ("age -1", customer(age=-1), "customer.age"),
    ("age 121", customer(age=121), "customer.age"),
    ("age as text", customer(age="40"), "customer.age"),
    ("bad email", customer(email="not-an-email"), "customer.email"),
    ("unknown customer field", customer(vip=True), "customer.vip"),
    ("unknown top-level field", {"role": "admin"}, "role"),
    ("client-chosen _id", {"_id": "5bd761dcae323e45a93ccfe8"}, "_id"),
]


def _fields(response: Any) -> set[str]:
    return {error["field"] for error in response.json()["errors"]}


@pytest.mark.parametrize(("changes", "field"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_bad_value_is_refused_naming_the_field_and_nothing_is_written(
    client: TestClient, kit, changes: dict[str, Any], field: str
) -> None:
    response = client.post("/sales", json=kit.body(**changes), headers=kit.worker)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert any(f == field or f.startswith(field + ".") for f in _fields(response)), response.json()
    assert kit.count() == 0
    assert kit.count(outbox) == 0


def test_a_missing_field_is_named(client: TestClient, kit) -> None:
    body = kit.body()
    del body["purchaseMethod"]
    response = client.post("/sales", json=body, headers=kit.worker)
    assert response.status_code == 422
    assert "purchaseMethod" in _fields(response)


def _case(name: str) -> tuple[dict[str, Any], str]:
    return next((changes, field) for case, changes, field in CASES if case == name)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        _case("three decimals"),
        _case("satisfaction 0"),
        _case("unknown customer field"),
        _case("date at the calendar's end"),
    ],
)
def test_a_bad_replacement_leaves_the_sale_as_it_was(
    client: TestClient, kit, changes: dict[str, Any], field: str
) -> None:
    sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
    before = client.get(f"/sales/{sale_id}", headers=kit.worker).json()
    response = client.put(f"/sales/{sale_id}", json=kit.body(**changes), headers=kit.worker | {"If-Match": '"1"'})
    assert response.status_code == 422
    assert any(f == field or f.startswith(field + ".") for f in _fields(response))
    assert client.get(f"/sales/{sale_id}", headers=kit.worker).json() == before
    assert kit.count(outbox) == 1


def test_a_body_over_the_limit_is_413_and_nothing_is_written(client: TestClient, kit) -> None:
    padding = b" " * (kit.settings.max_body_bytes + 1)
    response = client.post("/sales", content=padding, headers=kit.worker | {"content-type": "application/json"})
    assert response.status_code == 413
    assert kit.count() == 0


def test_an_idempotency_key_that_is_not_printable_ascii_is_refused(client: TestClient, kit) -> None:
    response = client.post("/sales", json=kit.body(), headers=kit.worker | {"Idempotency-Key": "a b"})
    assert response.status_code == 422
    assert "header.Idempotency-Key" in _fields(response)
    assert kit.count() == 0


@pytest.mark.parametrize("date", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00", 0])
def test_a_date_out_of_range_is_refused_on_every_way_in(client: TestClient, kit, date: object) -> None:
    body = kit.body(saleDate=date)
    keyed = client.post("/sales", json=body, headers=kit.worker | {"Idempotency-Key": "edge-1"})
    assert keyed.status_code == 422
    assert "saleDate" in _fields(keyed)
    imported = client.post(
        "/sales/import", content=json.dumps([body | {"_id": "5bd761dcae323e45a93ccfe8"}]), headers=kit.worker
    )
    assert imported.json()["rejected"] == 1
    assert kit.count() == 0
    assert kit.count(outbox) == 0


def test_the_dataset_date_forms_of_an_import_are_accepted(client: TestClient, kit) -> None:
    record = kit.body() | {"_id": "5bd761dcae323e45a93ccfe8"}
    forms = [
        {"$date": "2015-03-23T21:06:49.506Z"},
        {"$date": {"$numberLong": "1427144809506"}},
        {"$date": 1427144809506},
        "2015-03-23T21:06:49.506Z",
    ]
    lines = [
        json.dumps(record | {"_id": f"5bd761dcae323e45a93ccf{n:02x}", "saleDate": form}) for n, form in enumerate(forms)
    ]
    result = client.post("/sales/import", content="\n".join(lines), headers=kit.worker).json()
    assert (result["created"], result["rejected"]) == (4, 0), result
    dates = {
        client.get(f"/sales/5bd761dcae323e45a93ccf{n:02x}", headers=kit.worker).json()["sale"]["saleDate"]
        for n in range(4)
    }
    assert dates == {"2015-03-23T21:06:49.506Z"}


PRECISE = "1.0000000000000000001"


def _with_number_price(body: dict[str, Any], price: str) -> bytes:
    """The body as JSON whose first price is the JSON number `price`, written exactly."""
    body = body | {"items": [ITEM | {"price": "PRICE"}]}
    return json.dumps(body).replace('"PRICE"', price).encode()


@pytest.mark.parametrize("key", [None, "precise-1"])
def test_a_json_number_price_is_read_exactly_on_create(client: TestClient, kit, key: str | None) -> None:
    headers = kit.worker | {"content-type": "application/json"} | ({"Idempotency-Key": key} if key else {})
    for price in (PRECISE, f'"{PRECISE}"'):
        response = client.post("/sales", content=_with_number_price(kit.body(), price), headers=headers)
        assert response.status_code == 422, price
        assert _fields(response) == {"items.0.price"}
    exact = client.post("/sales", content=_with_number_price(kit.body(), "2.50"), headers=headers)
    assert exact.status_code == 201
    assert exact.json()["sale"]["items"][0]["price"] == "2.5"
    assert kit.count() == 1


def test_a_json_number_price_is_read_exactly_on_replace_and_import(client: TestClient, kit) -> None:
    sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
    headers = kit.worker | {"content-type": "application/json", "If-Match": '"1"'}
    replaced = client.put(f"/sales/{sale_id}", content=_with_number_price(kit.body(), PRECISE), headers=headers)
    assert replaced.status_code == 422
    assert _fields(replaced) == {"items.0.price"}
    record = _with_number_price(kit.body() | {"_id": "5bd761dcae323e45a93ccfe8"}, PRECISE)
    for content in (record, b"[" + record + b"]"):
        result = client.post("/sales/import", content=content, headers=kit.worker).json()
        assert (result["created"], result["rejected"]) == (0, 1), result
        assert "items.0.price" in result["errors"][0]["reason"]
    assert kit.count() == 1
    assert kit.count(outbox) == 1
