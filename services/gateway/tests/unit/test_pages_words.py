"""Words people type and read: amounts and dates in the sales filters, the sale date, store times."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from supply_gateway.entrypoints.web.filters import amount, read_filters
from supply_gateway.entrypoints.web.forms import local_input, now_input
from supply_gateway.entrypoints.web.rendering import day, store_time

from .app_support import SIGNER, problem_reply, with_cookies


@pytest.mark.parametrize(
    ("typed", "dollars"),
    [("$1,000", "1000"), ("1000.00", "1000.00"), (" 12.5 ", "12.5"), ("USD 2,500.75", "2500.75"), ("$.99", ".99")],
)
def test_amounts_are_read_with_a_currency_sign_and_separators(typed: str, dollars: str) -> None:
    assert str(amount(typed)) == str(amount(dollars)) != "None"


@pytest.mark.parametrize("typed", ["abc", "1,00", "12.345", "-5", "1e3", "$", "1.000,50"])
def test_anything_else_is_not_an_amount(typed: str) -> None:
    assert amount(typed) is None


def test_reversed_ranges_and_mistyped_values_are_said_under_their_field() -> None:
    sent, errors = read_filters({"total_min": "$1,000", "total_max": "500", "date_from": "2017-02-01", "date_to": ""})
    assert sent["total_min"] == "1000"
    assert errors == {"total_max": "The highest total is below the lowest: enter one at or above it."}
    _, errors = read_filters({"date_from": "2017-02-01", "date_to": "2017-01-31", "total_min": "ten"})
    assert errors == {
        "date_to": "The end date is before the start date: pick one on or after the start date.",
        "total_min": "Enter an amount like 1000.00.",
    }


async def test_the_sales_list_sends_typed_amounts_as_numbers_and_flags_mistakes_without_asking(gateway) -> None:
    client, upstreams = gateway
    asked: list[httpx.URL] = []

    def search(request: httpx.Request) -> httpx.Response:
        asked.append(request.url)
        return httpx.Response(200, json={"items": [], "next_cursor": None})

    upstreams.handlers["GET projector/sales"] = search
    upstreams.handlers["GET projector/sales/summary"] = lambda r: httpx.Response(
        200, json={"count": 0, "total": "0", "kind": "exact_by_reading", "more": False}
    )
    session = {"sg_access": SIGNER.token("technical_worker")}
    found = await with_cookies(client, "GET", "/sales?total_min=%241%2C000", session)
    assert found.status_code == 200
    assert asked[-1].params["total_min"] == "1000"

    flagged = await with_cookies(client, "GET", "/sales?total_min=500&total_max=%24100", session)
    assert len(asked) == 1, "a reversed range is not searched"
    assert 'data-field="total_max"' in flagged.text
    assert "The highest total is below the lowest" in flagged.text
    assert 'value="$100"' in flagged.text, "the field keeps what was typed"

    upstreams.handlers["GET projector/sales"] = problem_reply(
        422, "Invalid", errors=[{"field": "query.total_min", "reason": "Input should be a valid decimal"}]
    )
    refused = await with_cookies(client, "GET", "/sales?total_min=7", session)
    assert "Enter an amount like 1000.00." in refused.text
    assert "query.total_min" not in refused.text
    assert "valid decimal" not in refused.text


def test_the_sale_date_is_shown_to_the_second_and_a_new_sale_starts_now_to_the_minute() -> None:
    assert local_input("2017-12-12T09:30:05.000Z") == "2017-12-12T09:30:05"
    assert local_input("2017-12-12T09:30:05.250Z") == "2017-12-12T09:30:05.250", "milliseconds a sale has are kept"
    assert now_input(datetime(2026, 12, 6, 11, 40, 59, 999000, tzinfo=UTC)) == "2026-12-06T11:40"


async def test_a_new_sale_form_starts_at_now(gateway) -> None:
    client, _ = gateway
    form = await with_cookies(client, "GET", "/sales/new", {"sg_access": SIGNER.token("technical_worker")})
    assert f'value="{datetime.now(UTC).strftime("%Y-%m-%dT")}' in form.text
    assert 'step="1"' in form.text


def test_times_are_shown_on_the_stores_clock_next_to_utc() -> None:
    assert store_time("2017-12-12T09:30:00.000Z", "Denver") == "12 Dec 2017, 02:30 MST"
    assert store_time("2017-07-01T09:30:00Z", "London") == "1 Jul 2017, 10:30 BST"
    assert store_time("2017-07-01T09:30:00Z", "San Diego") == "1 Jul 2017, 02:30 PDT"
    assert store_time("2017-07-01T09:30:00Z", "Atlantis") == ""
    assert day("2017-12-12T23:59:59.999Z") == "12 Dec 2017"
