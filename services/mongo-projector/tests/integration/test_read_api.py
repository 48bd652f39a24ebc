"""The read API over a real copy: analytics equal Python's figures, pages, read-your-writes (deletes too), freshness."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from bson import ObjectId

from supply_common.contract import decimal_text, sale_total
from supply_common.testing.tokens import ISSUER_FOR_TESTS as ISSUER
from supply_projector.bootstrap import Container

from .conftest import consuming, produce, versions_of, wait_for
from .events import SAMPLES, changed, sale_event

pytestmark = pytest.mark.integration
MANAGER = ISSUER.bearer("senior_management", sub="m", email="m@example.com")
STAFF = ISSUER.bearer("technical_worker", sub="t", email="t@example.com")


def money(value: Decimal) -> str:
    return decimal_text(value)


async def test_analytics_equal_the_figures_computed_from_the_events(
    container: Container, client: httpx.AsyncClient
) -> None:
    final = [SAMPLES[0], changed(SAMPLES[1], 2), SAMPLES[3], SAMPLES[4], SAMPLES[5], SAMPLES[6]]
    events = [sale_event(sale, 1, "create") for sale in SAMPLES]
    events += [sale_event(changed(SAMPLES[1], 2), 2), sale_event(SAMPLES[2], 2, "delete")]
    await produce(container.settings, events)
    async with consuming(container):
        await wait_for(lambda: len(versions_of(container)) == 6 and SAMPLES[2].id not in versions_of(container))

    revenue = sum((sale_total(list(s.items)) for s in final), Decimal(0))
    summary = (await client.get("/analytics/summary", headers=MANAGER)).json()
    assert summary == {
        "revenue": money(revenue),
        "sales": 6,
        "items": sum(i.quantity for s in final for i in s.items),
        "mean_basket": str((revenue / 6).quantize(Decimal("0.01"))),
    }

    by_store: dict[str, list[Decimal]] = defaultdict(list)
    for sale in final:
        by_store[sale.storeLocation].append(sale_total(list(sale.items)))
    expected = [{"key": k, "revenue": money(sum(v, Decimal(0))), "sales": len(v)} for k, v in sorted(by_store.items())]
    assert (await client.get("/analytics/by-store", headers=MANAGER)).json() == expected

    months = Counter(s.saleDate.strftime("%Y-%m") for s in final)
    by_month = (await client.get("/analytics/by-month", headers=MANAGER)).json()
    assert {row["key"]: row["sales"] for row in by_month} == dict(months)

    quantity: Counter[str] = Counter()
    item_revenue: dict[str, Decimal] = defaultdict(Decimal)
    for sale in final:
        for item in sale.items:
            quantity[item.name] += item.quantity
            item_revenue[item.name] += item.price * item.quantity
    top = (await client.get("/analytics/top-items?by=quantity&limit=3", headers=MANAGER)).json()
    assert [row["name"] for row in top] == [
        name for name, _ in sorted(quantity.items(), key=lambda kv: (-kv[1], kv[0]))
    ][:3]
    top = (await client.get("/analytics/top-items?by=revenue&limit=20", headers=MANAGER)).json()
    assert {row["name"]: row["revenue"] for row in top} == {k: money(v) for k, v in item_revenue.items()}

    scores = Counter(s.customer.satisfaction for s in final)
    satisfaction = (await client.get("/analytics/satisfaction", headers=MANAGER)).json()
    assert satisfaction == [{"score": n, "sales": scores.get(n, 0)} for n in range(1, 6)]

    used = sum(1 for s in final if s.couponUsed)
    coupons = (await client.get("/analytics/coupons", headers=MANAGER)).json()
    assert coupons == {"used": used, "total": 6, "rate": round(used / 6, 4)}

    first = min(s.saleDate for s in final)
    ranged = (
        await client.get(
            "/analytics/summary",
            params={"date_from": first.isoformat(), "date_to": first.replace(year=first.year + 100).isoformat()},
            headers=MANAGER,
        )
    ).json()
    assert ranged["sales"] == 6
    ranged = (await client.get("/analytics/summary", params={"date_to": first.isoformat()}, headers=MANAGER)).json()
    assert ranged["sales"] == 0

    midnight = first.replace(hour=0, minute=0, second=0, microsecond=0)
    that_day = [s for s in final if midnight <= s.saleDate < midnight + timedelta(days=1)]
    day_window = {"date_from": midnight.isoformat(), "date_to": (midnight + timedelta(days=1)).isoformat()}
    by_day = (await client.get("/analytics/by-day", params=day_window, headers=MANAGER)).json()
    assert by_day == [
        {
            "key": midnight.strftime("%Y-%m-%d"),
            "revenue": money(sum((sale_total(list(s.items)) for s in that_day), Decimal(0))),
            "sales": len(that_day),
        }
    ]


async def test_search_pages_read_your_writes_customers_and_freshness(
    container: Container, client: httpx.AsyncClient
) -> None:
    await produce(container.settings, [sale_event(sale, 1, "create") for sale in SAMPLES])
    async with consuming(container):
        await wait_for(lambda: len(versions_of(container)) == len(SAMPLES))

        seen, cursor = [], None
        while True:
            params = {"limit": 3, "sort": "date_asc"} | ({"cursor": cursor} if cursor else {})
            page = (await client.get("/sales", params=params, headers=STAFF)).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == [s.id for s in sorted(SAMPLES, key=lambda s: (s.saleDate, s.id))]

        denver = (await client.get("/sales", params={"store": "Denver"}, headers=STAFF)).json()["items"]
        assert {i["id"] for i in denver} == {s.id for s in SAMPLES if s.storeLocation == "Denver"}
        hostile = await client.get("/sales", params={"email": '{"$ne": null}'}, headers=STAFF)
        assert (hostile.status_code, hostile.json()["items"]) == (200, [])  # a string, never an operator
        costly = (await client.get("/sales", params={"total_min": "1000"}, headers=STAFF)).json()["items"]
        assert {i["id"] for i in costly} == {s.id for s in SAMPLES if sale_total(list(s.items)) >= 1000}

        sale = SAMPLES[0]
        view = (await client.get(f"/sales/{sale.id}", headers=STAFF)).json()
        assert view["version"] == 1
        assert view["total"] == decimal_text(sale_total(list(sale.items)))
        assert view["sale"]["_id"] == sale.id

        waited = await client.get(f"/sales/{sale.id}", params={"min_version": 2, "wait_ms": 300}, headers=STAFF)
        assert waited.status_code == 409
        assert waited.json()["version"] == 1

        async def update_soon() -> None:
            await asyncio.sleep(0.3)
            await produce(container.settings, [sale_event(changed(sale, 2), 2)])

        task = asyncio.create_task(update_soon())
        waited = await client.get(f"/sales/{sale.id}", params={"min_version": 2, "wait_ms": 5000}, headers=STAFF)
        await task
        assert waited.status_code == 200
        assert waited.json()["version"] == 2

        owner = ISSUER.bearer("customer", sub="c", email=sale.customer.email)
        stranger = ISSUER.bearer("customer", sub="s", email="nobody@example.com")
        assert (await client.get(f"/sales/{sale.id}", headers=owner)).status_code == 200
        assert (await client.get(f"/sales/{sale.id}", headers=stranger)).status_code == 404
        mine = (await client.get("/me/sales", headers=owner)).json()
        assert [i["id"] for i in mine["items"]] == [sale.id]
        assert mine["count"] == 1
        assert (await client.get("/me/sales", headers=stranger)).json()["count"] == 0

        fresh = (await client.get("/freshness", headers=STAFF)).json()
        assert fresh["kafka"] == "ok"
        assert len(fresh["partitions"]) == 6
        assert sum(p["end_offset"] for p in fresh["partitions"]) == len(SAMPLES) + 1
        assert all(p["lag"] == 0 for p in fresh["partitions"])
        assert any(p["last_occurred_at"] for p in fresh["partitions"])
        assert fresh["dlq_count"] == 0
        assert fresh["quarantined"] == 0


async def test_min_version_of_a_deleted_sale_is_404_at_once_unless_the_delete_is_older(
    container: Container, client: httpx.AsyncClient
) -> None:
    sale = SAMPLES[2]
    await produce(container.settings, [sale_event(sale, 1, "create"), sale_event(sale, 2, "delete")])
    async with consuming(container):
        await wait_for(lambda: container.reader.deleted_version(sale.id) == 2, what="the tombstone")
        assert container.reader.version(sale.id) is None

        for wanted in (1, 2):
            started = time.monotonic()
            answer = await client.get(
                f"/sales/{sale.id}", params={"min_version": wanted, "wait_ms": 5000}, headers=STAFF
            )
            assert time.monotonic() - started < 1.5
            assert answer.status_code == 404
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["detail"] == "The sale was deleted at version 2."
            assert answer.json()["deleted_version"] == 2

        plain = await client.get(f"/sales/{sale.id}", headers=STAFF)
        assert plain.status_code == 404
        assert "deleted_version" not in plain.json()

        owner = ISSUER.bearer("customer", sub="c", email=sale.customer.email)
        hidden = await client.get(f"/sales/{sale.id}", params={"min_version": 2, "wait_ms": 300}, headers=owner)
        assert hidden.status_code == 404
        assert hidden.json()["detail"] == "No such sale."
        assert "deleted_version" not in hidden.json()

        started = time.monotonic()
        waited = await client.get(f"/sales/{sale.id}", params={"min_version": 3, "wait_ms": 400}, headers=STAFF)
        assert time.monotonic() - started >= 0.4
        assert waited.status_code == 409
        assert waited.json()["version"] is None

        async def create_again_soon() -> None:
            await asyncio.sleep(0.3)
            await produce(container.settings, [sale_event(changed(sale, 3), 3, "create")])

        task = asyncio.create_task(create_again_soon())
        waited = await client.get(f"/sales/{sale.id}", params={"min_version": 3, "wait_ms": 5000}, headers=STAFF)
        await task
        assert waited.status_code == 200
        assert waited.json()["version"] == 3
        assert waited.json()["sale"]["customer"]["age"] == changed(sale, 3).customer.age


async def _all_pages(client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: str) -> list[str]:
    """Every id the pages give, following `next_cursor`; fails on a page that repeats itself."""
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        page = (await client.get(path, params=params | ({"cursor": cursor} if cursor else {}), headers=headers)).json()
        seen += [item["id"] for item in page["items"]]
        if not page["next_cursor"]:
            return seen
        assert page["next_cursor"] != cursor, f"the page after {cursor} ends where it started: {seen}"
        cursor = page["next_cursor"]
    raise AssertionError(f"paging did not end: {seen}")


async def test_pages_of_one_give_every_sale_once_when_sales_share_a_date(
    container: Container, client: httpx.AsyncClient
) -> None:
    """2004-05-16T15:09:43.475Z is one of the dates whose float milliseconds land 1 ms low: a cursor
    built that way repeated the page forever (ascending) or skipped the sales at that date (descending)."""
    awkward = datetime(2004, 5, 16, 15, 9, 43, 475000, tzinfo=UTC)
    email = f"pager.{ObjectId()}@example.com"
    dates = [awkward - timedelta(seconds=1), awkward, awkward, awkward, awkward + timedelta(milliseconds=1)]
    sales = [
        SAMPLES[n % len(SAMPLES)].model_copy(
            update={
                "id": str(ObjectId()),
                "saleDate": when,
                "customer": SAMPLES[n % len(SAMPLES)].customer.model_copy(update={"email": email}),
            }
        )
        for n, when in enumerate(dates)
    ]
    await produce(container.settings, [sale_event(sale, 1, "create") for sale in sales])
    async with consuming(container):
        await wait_for(lambda: len(versions_of(container)) == len(sales), what="the sales")
    ascending = [s.id for s in sorted(sales, key=lambda s: (s.saleDate, s.id))]

    assert await _all_pages(client, "/sales", STAFF, limit="1", sort="date_asc") == ascending
    assert await _all_pages(client, "/sales", STAFF, limit="1", sort="date_desc") == ascending[::-1]
    customer = ISSUER.bearer("customer", sub="c", email=email)
    assert await _all_pages(client, "/me/sales", customer, limit="1") == ascending[::-1]
    # The count and revenue are of all the customer's purchases, whether one page holds them or not.
    revenue = decimal_text(sum((sale_total(list(s.items)) for s in sales), Decimal(0)))
    for limit in ("1", "5", "20"):
        mine = (await client.get("/me/sales", params={"limit": limit}, headers=customer)).json()
        assert (mine["count"], mine["revenue"]) == (len(sales), revenue), limit


async def test_customers_are_matched_by_email_whatever_its_case_and_any_address_can_be_searched(
    container: Container, client: httpx.AsyncClient
) -> None:
    emails = {
        "mixed": "Mixed.Case@Example.COM",
        "dollar": "$dollar@example.com",
        "curly": "{curly}@example.com",
        "older": "older@example.com",
    }
    sales = {
        name: SAMPLES[n].model_copy(
            update={"id": str(ObjectId()), "customer": SAMPLES[n].customer.model_copy(update={"email": email})}
        )
        for n, (name, email) in enumerate(emails.items())
    }
    await produce(container.settings, [sale_event(sale, 1, "create") for sale in sales.values()])
    async with consuming(container):
        await wait_for(lambda: len(versions_of(container)) == len(sales), what="the sales")

    async def found(email: str) -> list[str]:
        answer = await client.get("/sales", params={"email": email}, headers=STAFF)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    assert await found("mixed.case@example.com") == [sales["mixed"].id]
    assert await found("MIXED.CASE@example.com") == [sales["mixed"].id]
    assert await found("$dollar@example.com") == [sales["dollar"].id]
    assert await found("{curly}@EXAMPLE.com") == [sales["curly"].id]
    assert await found("Older@Example.com") == [sales["older"].id]
    assert await found("$ne") == []

    for name in ("mixed", "older"):
        customer = ISSUER.bearer("customer", sub="c", email=emails[name].lower())
        mine = (await client.get("/me/sales", headers=customer)).json()
        assert ([i["id"] for i in mine["items"]], mine["count"]) == ([sales[name].id], 1)
        assert mine["revenue"] == decimal_text(sale_total(list(sales[name].items)))
        assert (await client.get(f"/sales/{sales[name].id}", headers=customer)).status_code == 200
        assert (await client.get(f"/sales/{sales['dollar'].id}", headers=customer)).status_code == 404


async def test_date_bounds_finer_than_a_millisecond_mean_what_they_say(
    container: Container, client: httpx.AsyncClient
) -> None:
    when = datetime(2015, 3, 23, 21, 6, 49, 506000, tzinfo=UTC)
    sale = SAMPLES[0].model_copy(update={"id": str(ObjectId()), "saleDate": when})
    await produce(container.settings, [sale_event(sale, 1, "create")])
    async with consuming(container):
        await wait_for(lambda: sale.id in versions_of(container), what="the sale")

    async def count(**bounds: str) -> tuple[int, int]:
        found = (await client.get("/sales", params=bounds, headers=STAFF)).json()["items"]
        summary = (await client.get("/analytics/summary", params=bounds, headers=MANAGER)).json()
        return len(found), summary["sales"]

    assert await count(date_to="2015-03-23T21:06:49.5061Z") == (1, 1)
    assert await count(date_to="2015-03-23T21:06:49.506Z") == (0, 0)
    assert await count(date_from="2015-03-23T21:06:49.5061Z") == (0, 0)
    assert await count(date_from="2015-03-23T21:06:49.506Z") == (1, 1)
    assert await count(date_from="2015-03-23T21:06:49.5059Z", date_to="2015-03-23T21:06:49.5061Z") == (1, 1)
    assert await count(date_from="2015-03-23T23:06:49.5051+02:00") == (1, 1)


async def test_to_a_customer_a_sale_of_someone_else_and_no_sale_look_the_same(
    container: Container, client: httpx.AsyncClient
) -> None:
    """Asked with min_version, another customer's sale answered 404 while an unknown id answered 409
    ("holds version None"), and how soon the 404 came told that sale's version."""
    theirs, mine, gone = (
        SAMPLES[n].model_copy(
            update={
                "id": str(ObjectId()),
                "customer": SAMPLES[n].customer.model_copy(update={"email": f"c{n}@example.com"}),
            }
        )
        for n in range(3)
    )
    me = ISSUER.bearer("customer", sub="c", email="c1@example.com")
    await produce(
        container.settings,
        [
            sale_event(theirs, 1, "create"),
            sale_event(changed(theirs, 2), 2),
            sale_event(mine, 1, "create"),
            sale_event(gone, 1, "create"),
            sale_event(gone, 2, "delete"),
        ],
    )
    async with consuming(container):
        await wait_for(lambda: versions_of(container) == {theirs.id: 2, mine.id: 1}, what="the sales")
        await wait_for(lambda: container.reader.deleted_version(gone.id) == 2, what="the tombstone")

    async def ask(sale_id: str, min_version: int) -> tuple[int, dict[str, object], float]:
        started = time.monotonic()
        answer = await client.get(f"/sales/{sale_id}", params={"min_version": min_version, "wait_ms": 400}, headers=me)
        body = {k: v for k, v in answer.json().items() if k != "instance"}
        return answer.status_code, body, time.monotonic() - started

    unknown = str(ObjectId())
    answers = [await ask(sale_id, n) for sale_id in (theirs.id, unknown, gone.id) for n in (1, 2, 999)]
    assert [status for status, _, _ in answers] == [404] * len(answers)
    assert all(body == answers[0][1] for _, body, _ in answers), answers
    assert answers[0][1]["detail"] == "No such sale."
    assert all(0.4 <= took < 1.5 for _, _, took in answers), [took for _, _, took in answers]

    own = await client.get(f"/sales/{mine.id}", params={"min_version": 1, "wait_ms": 400}, headers=me)
    assert own.status_code == 200
    later = await client.get(f"/sales/{mine.id}", params={"min_version": 2, "wait_ms": 400}, headers=me)
    assert (later.status_code, later.json()["version"]) == (409, 1)
