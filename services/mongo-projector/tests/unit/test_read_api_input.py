"""The read API refuses bad input and unknown roles before it touches the store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from supply_projector.bootstrap import bootstrap
from supply_projector.config import ProjectorSettings
from supply_projector.entrypoints.app import create_app

STAFF = {"X-User-Id": "u1", "X-User-Role": "technical_worker", "X-User-Email": "t@example.com"}
CUSTOMER = {"X-User-Id": "u2", "X-User-Role": "customer", "X-User-Email": "c@example.com"}
MANAGER = {"X-User-Id": "u3", "X-User-Role": "senior_management", "X-User-Email": "m@example.com"}


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = ProjectorSettings(mongo_url="mongodb://127.0.0.1:1", kafka_bootstrap_servers="127.0.0.1:1")  # type: ignore[arg-type]
    container = bootstrap(settings)
    try:
        with TestClient(create_app(container)) as test_client:
            yield test_client
    finally:
        container.close()


@pytest.mark.parametrize(
    "query",
    [
        "email[$ne]=x",
        "store=%7B%22%24ne%22%3A%20null%7D",
        "store=Paris",
        "method=Fax",
        "coupon=maybe",
        "limit=101",
        "limit=0",
        "total_min=1.234",
        "total_min=-1",
        "date_from=2015-01-01T00:00:00",
        "date_from=2016-01-01T00:00:00Z&date_to=2015-01-01T00:00:00Z",
        "cursor=not-a-cursor",
        "sort=random",
        "store=Denver&store=London",
    ],
)
def test_bad_filters_are_422_problems(client: TestClient, query: str) -> None:
    response = client.get(f"/sales?{query}", headers=STAFF)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"]


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/sales", {}, 401),
        ("/sales", CUSTOMER, 403),
        ("/me/sales", STAFF, 403),
        ("/analytics/summary", STAFF, 403),
        ("/analytics/by-store", CUSTOMER, 403),
        ("/freshness", CUSTOMER, 403),
        ("/sales/not-an-id", STAFF, 422),
        ("/sales/5bd761dcae323e45a93ccfe8?min_version=0", STAFF, 422),
        ("/sales/5bd761dcae323e45a93ccfe8?wait_ms=60000&min_version=1", STAFF, 422),
        ("/analytics/top-items?by=price", MANAGER, 422),
        ("/analytics/by-day?date_from=2017-01-01T00:00:00Z&date_to=2017-01-08T00:00:00Z", STAFF, 403),
        ("/analytics/by-day?date_from=2017-01-01T00:00:00Z", MANAGER, 422),
        ("/analytics/by-day?date_from=2017-01-01T00:00:00Z&date_to=2018-01-01T00:00:00Z", MANAGER, 422),
    ],
)
def test_roles_and_parameters_are_checked(client: TestClient, path: str, headers: dict[str, str], status: int) -> None:
    assert client.get(path, headers=headers).status_code == status


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/sales", STAFF),
        ("/analytics/summary", MANAGER),
        ("/analytics/by-month", MANAGER),
        ("/analytics/top-items", MANAGER),
    ],
)
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("date_from", "9999-12-31T23:00:00-05:00"),
        ("date_from", "0001-01-01T00:00:00+05:00"),
        ("date_to", "9999-12-31T23:00:00-05:00"),
        ("date_to", "0001-01-01T00:00:00+05:00"),
        ("date_to", "9999-12-31T23:59:59.9999Z"),
    ],
)
def test_a_date_beyond_the_calendar_in_utc_is_a_422_naming_it(
    client: TestClient, path: str, headers: dict[str, str], name: str, value: str
) -> None:
    response = client.get(path, params={name: value}, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    [error] = response.json()["errors"]
    assert error["field"] == f"query.{name}"
    assert "9999-12-31" in error["reason"]
