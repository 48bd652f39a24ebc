"""The summary of a search on the real store: what the rollups answer equals a count and total
computed from the copy, for every search they serve and windows that are not whole days (a sale
exactly at a bound included); a wide match of another search is a lower bound within the cap."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from supply_common.contract import PURCHASE_METHODS, STORES, Sale, decimal_text
from supply_common.testing.tokens import ISSUER_FOR_TESTS as ISSUER
from supply_projector.adapters.rollups import BUILT, rollup_collections
from supply_projector.bootstrap import Container, bootstrap
from supply_projector.config import ProjectorSettings
from supply_projector.domain.queries import DateRange, SalesFilter, date_bound
from supply_projector.domain.search import matches, search_key
from supply_projector.entrypoints.app import create_app
from supply_projector.service_layer.analytics import window_counters

from .conftest import consuming, produce, wait_for
from .events import new_sale, sale_event

pytestmark = pytest.mark.integration
STAFF = ISSUER.bearer("technical_worker", sub="t", email="t@example.com")
CAP = 5
EDGE = datetime(2016, 2, 10, 13, 30, 0, 250_000, tzinfo=UTC)
"""A bound that is not midnight, with a sale dated exactly on it."""
END = datetime(2016, 4, 20, 8, tzinfo=UTC)
"""Another, also with a sale exactly on it."""
MIDNIGHT = datetime(2016, 2, 11, tzinfo=UTC)
WINDOWS: dict[str, dict[str, str]] = {
    "all": {},
    "whole months": {"date_from": "2016-02-01T00:00:00Z", "date_to": "2016-04-01T00:00:00Z"},
    "months, days and partial days": {"date_from": "2016-02-10T13:30:00.250Z", "date_to": "2016-04-20T08:00:00Z"},
    "part of one day": {"date_from": "2016-02-10T13:30:00.250Z", "date_to": "2016-02-10T20:00:00Z"},
    "a partial day and a whole one": {"date_from": "2016-02-10T13:30:00.250Z", "date_to": "2016-02-12T00:00:00Z"},
    "a sale at date_to is left out": {"date_from": "2016-02-10T00:00:00Z", "date_to": "2016-02-10T13:30:00.250Z"},
    "from only": {"date_from": "2016-03-17T05:00:00+02:00"},
    "to only": {"date_to": "2016-02-11T00:00:00Z"},
}
WINDOW = ("date_from", "date_to")
SEARCHES: list[dict[str, str]] = [
    {},
    *({"store": store} for store in STORES[:3]),
    *({"method": method} for method in PURCHASE_METHODS),
    {"coupon": "true"},
    {"coupon": "false"},
]


def dated(sale: Sale, when: datetime, rng: random.Random, item: str | None = None) -> Sale:
    items = list(sale.items)
    if item is not None:
        items[0] = items[0].model_copy(update={"name": item})
    return sale.model_copy(
        update={
            "saleDate": when,
            "storeLocation": rng.choice(STORES[:3]),
            "purchaseMethod": rng.choice(PURCHASE_METHODS),
            "couponUsed": rng.random() < 0.3,
            "items": items,
        }
    )


def sales(count: int, seed: int = 11) -> list[Sale]:
    """Sales over five months of 2016 at any millisecond, and one exactly at each bound above; every
    other one sells a notepad."""
    rng = random.Random(seed)
    first = datetime(2016, 1, 1, tzinfo=UTC)
    made = [
        dated(
            new_sale(rng),
            first + timedelta(milliseconds=rng.randrange(152 * 24 * 3600 * 1000)),
            rng,
            "notepad" if n % 2 else None,
        )
        for n in range(count)
    ]
    return made + [dated(new_sale(rng), when, rng) for when in (EDGE, END, MIDNIGHT)]


@pytest.fixture
async def summary_of(settings: ProjectorSettings) -> AsyncIterator[Any]:
    """Asks the read API for a summary; also gives the container to compute the answer from."""
    container = bootstrap(settings.model_copy(update={"summary_count_cap": CAP}))
    made = sales(60)
    await produce(settings, [sale_event(sale, 1, "create") for sale in made])
    async with consuming(container):
        await wait_for(lambda: window_counters(container.rollups, DateRange()).get("n") == len(made), what="rollups")
    app = create_app(container)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://projector") as client:

        async def ask(params: dict[str, str]) -> dict[str, Any]:
            answer = await client.get("/sales/summary", params=params, headers=STAFF)
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            return body

        yield ask, container
    container.close()


def from_copy(container: Container, params: dict[str, str]) -> tuple[int, str]:
    """Count and total of the search read from every document of the copy that it matches (the item
    word compared here with every name, not through the words lookup)."""
    bounds = {name: date_bound(datetime.fromisoformat(params[name])) for name in WINDOW if name in params}
    search = SalesFilter(
        store=params.get("store"),
        method=params.get("method"),
        coupon=None if "coupon" not in params else params["coupon"] == "true",
        email=params.get("email"),
        dates=DateRange(bounds.get("date_from"), bounds.get("date_to")),
    )
    word = search_key(params.get("item", ""))
    found = [
        document
        for document in container.database[container.active.name()].find(search.filter())
        if not word or any(matches(word, item["name"]) for item in document["items"])
    ]
    cents = sum(int(document["_supply"]["total_cents"]) for document in found)
    return len(found), decimal_text(Decimal(cents) / 100)


async def test_the_rollups_count_and_total_exactly_what_the_copy_holds_for_each_search_they_serve(
    summary_of: Any,
) -> None:
    ask, container = summary_of
    for window, dates in WINDOWS.items():
        for search in SEARCHES:
            params = {**search, **dates}
            count, total = from_copy(container, params)
            assert await ask(params) == {
                "count": count,
                "total": total,
                "kind": "exact_from_rollups",
                "more": False,
            }, f"{window}: {search}"


async def test_the_bounds_are_inclusive_from_and_exclusive_to_at_the_millisecond(summary_of: Any) -> None:
    ask, container = summary_of
    at_edge = {"date_from": "2016-02-10T13:30:00.250Z", "date_to": "2016-02-10T13:30:00.251Z"}
    assert (await ask(at_edge))["count"] == 1 == from_copy(container, at_edge)[0]
    before_edge = {"date_from": "2016-02-10T13:30:00.249Z", "date_to": "2016-02-10T13:30:00.250Z"}
    assert (await ask(before_edge))["count"] == 0 == from_copy(container, before_edge)[0]
    at_midnight = {"date_from": "2016-02-11T00:00:00Z", "date_to": "2016-02-11T00:00:00.001Z"}
    assert (await ask(at_midnight))["count"] == 1 == from_copy(container, at_midnight)[0]


async def test_a_wide_match_of_another_search_is_a_lower_bound_within_the_cap_without_a_total(
    summary_of: Any,
) -> None:
    ask, container = summary_of
    assert from_copy(container, {"item": "notepad"})[0] > CAP
    assert await ask({"item": "Note"}) == {"count": CAP, "total": None, "kind": "lower_bound", "more": True}


async def test_a_narrow_match_of_another_search_is_counted_and_totalled_exactly(summary_of: Any) -> None:
    ask, container = summary_of
    counted = []
    for search in (
        {"item": "notepad", **WINDOWS["part of one day"]},
        {"item": "notepad", "date_from": "2016-02-01T00:00:00Z", "date_to": "2016-02-06T00:00:00Z"},
        {"store": STORES[0], "method": PURCHASE_METHODS[2], "date_to": "2016-01-20T00:00:00Z"},
    ):
        count, total = from_copy(container, search)
        assert count <= CAP, "a narrow search"
        assert await ask(search) == {"count": count, "total": total, "kind": "exact_by_reading", "more": False}
        counted.append(count)
    assert sum(counted) > 0


async def test_while_the_rollups_are_being_built_a_search_they_serve_is_counted_from_the_sales(
    summary_of: Any,
) -> None:
    ask, container = summary_of
    months = rollup_collections(container.active.name()).months
    container.database[months].update_one({"_id": BUILT}, {"$set": {"state": "building"}})
    assert from_copy(container, {"store": STORES[0]})[0] > CAP
    assert await ask({"store": STORES[0]}) == {"count": CAP, "total": None, "kind": "lower_bound", "more": True}
    count, total = from_copy(container, WINDOWS["part of one day"])
    assert await ask(WINDOWS["part of one day"]) == {
        "count": count,
        "total": total,
        "kind": "exact_by_reading",
        "more": False,
    }
