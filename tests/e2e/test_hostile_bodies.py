"""Hostile bodies and parameters through the gateway: SQL metacharacters, MongoDB operators, broken and
oversized bodies. Nothing may answer 5xx; nothing odd may be stored."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from conftest import Scenario
from hostile import BASE, People, bearer, no_5xx, with_value
from sqlalchemy import text

from supply_projector.domain.search import matches, search_key

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SQL = [
    "'; DROP TABLE sales; --",
    '" OR "1"="1',
    "x') OR ('a'='a",
    "1; SELECT SLEEP(10); --",
    "\\'; DELETE FROM sale_items WHERE 1=1; #",
    "%_\\%",
    "Robert'); DROP TABLE outbox;--",
    "<script>alert(1)</script>",
    "ünïcødé ✓ 𝄞",
]
LONG = ["x" * 101, "y" * 5000, "z" * 300_000]
OPERATORS: list[Any] = [{"$ne": None}, {"$gt": ""}, {"$where": "sleep(1000)"}, {"$regex": ".*"}, ["$in", 1]]
STRING_FIELDS: list[tuple[str | int, ...]] = [
    ("items", 0, "name"),
    ("items", 0, "tags", 0),
    ("storeLocation",),
    ("purchaseMethod",),
    ("customer", "gender"),
    ("customer", "email"),
    ("saleDate",),
]
ALL_FIELDS: list[tuple[str | int, ...]] = [
    *STRING_FIELDS,
    ("items", 0, "price"),
    ("items", 0, "quantity"),
    ("items", 0, "tags"),
    ("items",),
    ("customer", "age"),
    ("customer", "satisfaction"),
    ("customer",),
    ("couponUsed",),
]


def value_at(document: dict[str, Any], path: tuple[str | int, ...]) -> Any:
    found: Any = document
    for key in path:
        found = found[key]
    return found


def table_counts(scenario: Scenario) -> dict[str, int]:
    with scenario.engine.connect() as connection:
        return {
            table: int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())  # noqa: S608
            for table in ("sales", "sale_items", "outbox")
        }


def test_sql_metacharacters_and_long_strings_are_stored_verbatim_or_refused(
    shared: Scenario, client: httpx.Client, people: People
) -> None:
    stored = refused = 0
    for path in STRING_FIELDS:
        for value in SQL + LONG:
            if path == ("customer", "email"):
                value = f'"{value[:60]}"@example.com' if value not in LONG else f"{value}@example.com"
            response = no_5xx(client.post("/api/sales", json=with_value(path, value), headers=bearer(people.worker)))
            if response.status_code != 201:
                assert 400 <= response.status_code < 500
                refused += 1
                continue
            stored += 1
            sale_id = response.json()["id"]
            back = no_5xx(client.get(f"/api/sales/{sale_id}/current", headers=bearer(people.worker)))
            assert value_at(back.json()["sale"], path) == value, f"{path} not stored verbatim"
            changed = no_5xx(
                client.put(
                    f"/api/sales/{sale_id}",
                    json=with_value(path, value + "'--"),
                    headers={**bearer(people.worker), "if-match": back.headers["etag"]},
                )
            )
            if changed.status_code == 200:
                assert value_at(changed.json()["sale"], path) == value + "'--"
    counts = table_counts(shared)
    print(f"  SQL/long values: {stored} stored verbatim, {refused} refused; tables {counts}")
    assert stored > 0
    assert refused > 0
    for value in SQL:
        for path in (f"/api/sales/{value}", f"/api/sales/{value}/current"):
            assert no_5xx(client.get(path, headers=bearer(people.worker))).status_code in (404, 422)
        search = no_5xx(client.get("/api/sales", params={"item": value}, headers=bearer(people.worker)))
        assert search.status_code in (200, 422)
        if search.status_code == 200:
            found = [entry["sale"] for entry in search.json()["items"]]  # entries are {id, version, total, sale}
            key = search_key(value)  # item search: the start of a word of a name, any case
            assert all(any(matches(key, item["name"]) for item in sale["items"]) for sale in found)
        login_try = no_5xx(client.post("/api/auth/login", json={"email": value, "password": value}))
        assert login_try.status_code in (401, 422)


@pytest.mark.parametrize("operator", OPERATORS, ids=["ne", "gt", "where", "regex", "in-list"])
def test_mongodb_operators_in_body_fields_are_422(client: httpx.Client, people: People, operator: Any) -> None:
    for path in ALL_FIELDS:
        response = no_5xx(client.post("/api/sales", json=with_value(path, operator), headers=bearer(people.worker)))
        assert response.status_code == 422, f"{path}: {response.status_code}"
    login_try = no_5xx(client.post("/api/auth/login", json={"email": operator, "password": operator}))
    assert login_try.status_code == 422


SEARCH_PARAMS = ["store", "method", "coupon", "email", "item", "tag", "date_from", "date_to", "total_min", "total_max"]


TEXT_PARAMS = {"email", "item", "tag"}
"""Searched as text: any string the writer accepts (`$dollar@example.com`) is a value to look for."""


def test_mongodb_operators_in_query_parameters_are_422_or_plain_text(client: httpx.Client, people: People) -> None:
    routes = [
        ("/api/sales", [*SEARCH_PARAMS, "sort", "limit", "cursor"], people.worker),
        ("/api/analytics/summary", ["date_from", "date_to"], people.boss),
        ("/api/analytics/top-items", ["by", "limit"], people.boss),
        ("/api/me/sales", ["cursor", "limit"], people.customer),
    ]
    checked = 0
    for route, names, token in routes:
        for name in names:
            for value in ('{"$ne": null}', "$where", '{"$gt": ""}', "{$regex: '.*'}"):
                response = no_5xx(client.get(route, params={name: value}, headers=bearer(token)))
                if name in TEXT_PARAMS:  # compared as a string, never read as an operator: nothing matches
                    assert response.status_code == 200, f"{route}?{name}={value}: {response.status_code}"
                    assert response.json()["items"] == [], f"{route}?{name}={value} matched sales"
                else:
                    assert response.status_code == 422, f"{route}?{name}={value}: {response.status_code}"
                checked += 1
            bracket = no_5xx(client.get(f"{route}?{name}[$ne]=x", headers=bearer(token)))
            assert bracket.status_code == 422, f"{route}?{name}[$ne]: {bracket.status_code}"
            checked += 1
    print(f"  operator query parameters refused or taken as text: {checked}")


def test_broken_bodies_are_refused_without_a_5xx(client: httpx.Client, people: People) -> None:
    headers = {**bearer(people.worker), "content-type": "application/json"}
    cases: dict[str, tuple[bytes, dict[str, str], set[int]]] = {
        "malformed JSON": (b'{"saleDate": "2024-', headers, {400, 422}),
        "trailing garbage": (json.dumps(BASE).encode() + b"}}", headers, {400, 422}),
        "not UTF-8": (b'{"saleDate": "\xff\xfe\xfa"}', headers, {400, 422}),
        "deep nesting": (b"[" * 100_000 + b"]" * 100_000, headers, {400, 413, 422}),
        "deep objects": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, headers, {400, 413, 422}),
        "text/plain": (json.dumps(BASE).encode(), {**bearer(people.worker), "content-type": "text/plain"}, {415, 422}),
        "form": (
            b"saleDate=x",
            {**bearer(people.worker), "content-type": "application/x-www-form-urlencoded"},
            {415, 422},
        ),
        "no content type": (json.dumps(BASE).encode(), bearer(people.worker), {415, 422}),
        "10 MB": (b'{"items": ["' + b"a" * (10 * 1024 * 1024) + b'"]}', headers, {413}),
    }
    for name, (body, sent_headers, allowed) in cases.items():
        response = no_5xx(client.post("/api/sales", content=body, headers=sent_headers))
        assert response.status_code in allowed, f"{name}: {response.status_code} {response.text[:200]}"
    huge_login = no_5xx(
        client.post("/api/auth/login", content=b"{" + b" " * (10 * 1024 * 1024) + b"}", headers=headers)
    )
    assert huge_login.status_code == 413
