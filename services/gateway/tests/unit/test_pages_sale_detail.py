"""The sales list's search, totals, sorts and pages; a sale's page with its history; the edit
conflict that lays one's edits on the newer version; removing an item row; a delete that finds the
sale changed since its page was opened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from supply_gateway.entrypoints.web import sales as sales_pages

from .app_support import SIGNER, with_cookies

SALE_ID = "5bd761dcae323e45a93ccfe8"
CSRF = "c" * 32


def session(role: str = "technical_worker") -> dict[str, str]:
    return {"sg_access": SIGNER.token(role), "sg_csrf": CSRF}


def sale(**changes: Any) -> dict[str, Any]:
    return {
        "_id": SALE_ID,
        "saleDate": "2017-12-12T09:30:00.000Z",
        "storeLocation": "Denver",
        "purchaseMethod": "Online",
        "couponUsed": False,
        "customer": {"gender": "F", "age": 37, "email": "ann@example.com", "satisfaction": 4},
        "items": [
            {"name": "notepad", "tags": ["office"], "price": "2.50", "quantity": 3},
            {"name": "pens", "tags": ["writing"], "price": "1.25", "quantity": 2},
        ],
    } | changes


def version(number: int, kind: str, content: dict[str, Any] | None, user: str = "w1") -> dict[str, Any]:
    return {
        "version": number,
        "event_type": kind,
        "occurred_at": f"2026-12-0{number}T10:00:00.000Z",
        "actor": {"user_id": user, "role": "technical_worker"},
        "sale": content,
    }


def json_reply(body: Any, status: int = 200) -> Any:
    return lambda request: httpx.Response(status, json=body)


async def test_the_list_is_not_held_back_by_a_slow_count_of_the_whole_match(gateway, monkeypatch) -> None:
    client, upstreams = gateway
    monkeypatch.setattr(sales_pages, "SUMMARY_WAIT_S", 0.05)

    async def slow_count() -> AsyncIterator[bytes]:
        await asyncio.sleep(5)
        yield b'{"count": 1, "total": "10"}'

    upstreams.handlers["GET projector/sales"] = lambda r: httpx.Response(
        200, json={"items": [{"id": SALE_ID, "version": 1, "total": "10", "sale": sale()}], "next_cursor": None}
    )
    upstreams.handlers["GET projector/sales/summary"] = lambda r: httpx.Response(
        200, headers={"content-type": "application/json"}, content=slow_count()
    )
    started = time.monotonic()
    shown = await with_cookies(client, "GET", "/sales?item=note", session())
    assert shown.status_code == 200
    assert time.monotonic() - started < 4, "the page did not wait for the count"
    assert f'data-sale-id="{SALE_ID}"' in shown.text
    assert 'id="match-count-pending"' in shown.text
    assert 'id="match-count"' not in shown.text


async def test_the_list_shows_the_whole_match_and_keeps_the_search_in_sorts_pages_and_export(gateway) -> None:
    client, upstreams = gateway
    asked: list[httpx.Request] = []

    def page(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(
            200,
            json={
                "items": [{"id": SALE_ID, "version": 1, "total": "10", "sale": sale()}],
                "next_cursor": "N",
                "prev_cursor": "P",
            },
        )

    upstreams.handlers["GET projector/sales"] = page
    upstreams.handlers["GET projector/sales/summary"] = json_reply(
        {"count": 1234, "total": "56789.5", "kind": "exact_by_reading", "more": False}
    )
    shown = await with_cookies(
        client, "GET", "/sales?item=Note&sort=total_desc&size=50&date_from=2017-01-01&cursor=C", session()
    )

    assert shown.status_code == 200
    assert '<span id="match-count">1,234 sales</span>, <span id="match-total">$56,789.50</span>' in shown.text
    sent = parse_qs(urlsplit(str(asked[0].url)).query)
    assert sent == {
        "item": ["Note"],
        "sort": ["total_desc"],
        "date_from": ["2017-01-01T00:00:00.000Z"],
        "cursor": ["C"],
        "limit": ["50"],
    }
    kept = "/sales?item=Note&amp;date_from=2017-01-01"
    assert f'href="{kept}&amp;sort=total_desc&amp;size=50&amp;cursor=N" id="next-page"' in shown.text
    assert f'href="{kept}&amp;sort=total_desc&amp;size=50&amp;cursor=P" id="prev-page"' in shown.text
    assert f'href="{kept}&amp;sort=total_asc&amp;size=50" class="sort-link" id="sort-total"' in shown.text
    assert 'aria-sort="descending"><a href="/sales?item=Note&amp;date_from=2017-01-01&amp;sort=total_asc' in shown.text
    assert (
        'href="/api/sales/export?item=Note&amp;date_from=2017-01-01T00%3A00%3A00.000Z&amp;sort=total_desc"'
        in shown.text
    )
    assert f'href="/sales/{SALE_ID}" class="sale-link"' in shown.text
    assert 'aria-label="Edit sale of 12 Dec 2017, Denver"' in shown.text


async def test_a_match_counted_only_up_to_its_cap_says_more_than_and_links_the_export_instead_of_a_total(
    gateway,
) -> None:
    client, upstreams = gateway
    upstreams.handlers["GET projector/sales"] = json_reply(
        {"items": [{"id": SALE_ID, "version": 1, "total": "10", "sale": sale()}], "next_cursor": "N"}
    )
    upstreams.handlers["GET projector/sales/summary"] = json_reply(
        {"count": 1000, "total": None, "kind": "lower_bound", "more": True}
    )
    shown = await with_cookies(client, "GET", "/sales?item=note&store=Denver", session())

    assert shown.status_code == 200
    assert '<span id="match-count">More than 1,000 sales</span>' in shown.text
    assert '<a href="/api/sales/export?store=Denver&amp;item=note">export the whole match</a>' in shown.text
    assert 'id="match-total"' not in shown.text
    assert 'id="match-count-pending"' not in shown.text


async def test_one_sale_is_said_in_the_singular(gateway) -> None:
    client, upstreams = gateway
    upstreams.handlers["GET projector/sales"] = json_reply(
        {"items": [{"id": SALE_ID, "version": 1, "total": "10", "sale": sale()}], "next_cursor": None}
    )
    upstreams.handlers["GET projector/sales/summary"] = json_reply(
        {"count": 1, "total": "10", "kind": "exact_from_rollups", "more": False}
    )
    shown = await with_cookies(client, "GET", "/sales?store=Denver", session())
    assert '<span id="match-count">1 sale</span>, <span id="match-total">$10.00</span>' in shown.text


async def test_a_sale_page_shows_every_field_line_totals_and_each_version_as_its_changes(gateway) -> None:
    client, upstreams = gateway
    upstreams.handlers[f"GET projector/sales/{SALE_ID}"] = json_reply(
        {"id": SALE_ID, "version": 3, "total": "10", "sale": sale()}
    )
    first = sale(storeLocation="Austin")
    upstreams.handlers[f"GET sales-writer/sales/{SALE_ID}/history"] = json_reply(
        {
            "id": SALE_ID,
            "versions": [
                version(3, "sale.updated", sale(), "w2"),
                version(
                    2,
                    "sale.updated",
                    first | {"items": first["items"] + [{"name": "bag", "tags": [], "price": "9", "quantity": 1}]},
                ),
                version(1, "sale.created", first),
            ],
            "next_before": None,
        }
    )
    shown = await with_cookies(client, "GET", f"/sales/{SALE_ID}", session("senior_management"))

    assert shown.status_code == 200
    for text in (
        "ann@example.com",
        '<dd id="customer-age">37</dd>',
        "4 of 5",
        "$2.50",
        "$7.50",
        "$2.50</td>",
        "office",
    ):
        assert text in shown.text, text
    assert '<td class="num" id="sale-total">$10.00</td>' in shown.text
    entries = shown.text.split('class="history-entry"')[1:]
    assert [e.split("<strong>")[1].split("</strong>")[0] for e in entries] == ["Version 3", "Version 2", "Version 1"]
    assert "w2" in entries[0]
    assert "Technical worker" in entries[0]
    assert "<del>Austin</del>" in entries[0]
    assert "<ins>Denver</ins>" in entries[0]
    assert "removed: 1 × bag at $9" in entries[0]
    assert "added: 1 × bag at $9" in entries[1]
    assert "First version." in entries[2]
    assert 'id="edit-sale"' not in shown.text, "a manager reads; only a technical worker edits"


async def test_a_customer_sees_their_sale_without_the_staff_history(gateway) -> None:
    client, upstreams = gateway
    upstreams.handlers[f"GET projector/sales/{SALE_ID}"] = json_reply(
        {"id": SALE_ID, "version": 1, "total": "10", "sale": sale()}
    )
    shown = await with_cookies(client, "GET", f"/sales/{SALE_ID}", session("customer"))
    assert shown.status_code == 200
    assert "notepad" in shown.text
    assert "History" not in shown.text
    assert not any("history" in r.url.path for r in upstreams.seen)


async def test_a_deleted_sale_shows_its_history(gateway) -> None:
    client, upstreams = gateway
    upstreams.handlers[f"GET projector/sales/{SALE_ID}"] = json_reply({"status": 404, "title": "Not found"}, 404)
    upstreams.handlers[f"GET sales-writer/sales/{SALE_ID}/history"] = json_reply(
        {
            "id": SALE_ID,
            "versions": [version(2, "sale.deleted", None), version(1, "sale.created", sale())],
            "next_before": None,
        }
    )
    shown = await with_cookies(client, "GET", f"/sales/{SALE_ID}", session())
    assert shown.status_code == 200
    assert 'id="sale-deleted"' in shown.text
    assert "Version 2</strong>: deleted" in shown.text


async def test_an_edit_conflict_shows_their_changes_and_lays_mine_on_the_newest_version(gateway) -> None:
    client, upstreams = gateway
    theirs = sale(couponUsed=True, storeLocation="Austin")
    upstreams.handlers[f"PUT sales-writer/sales/{SALE_ID}"] = json_reply(
        {"status": 412, "title": "Precondition failed", "current_version": 2}, 412
    )
    upstreams.handlers[f"GET sales-writer/sales/{SALE_ID}"] = json_reply({"id": SALE_ID, "version": 2, "sale": theirs})
    upstreams.handlers[f"GET sales-writer/sales/{SALE_ID}/history"] = json_reply(
        {
            "id": SALE_ID,
            "versions": [version(2, "sale.updated", theirs, "w2"), version(1, "sale.created", sale())],
            "next_before": None,
        }
    )
    form = {
        "csrf_token": CSRF,
        "version": "1",
        "saleDate": "2017-12-12T09:30:00.000",
        "storeLocation": "Seattle",
        "purchaseMethod": "Online",
        "customer.email": "ann@example.com",
        "customer.gender": "F",
        "customer.age": "37",
        "customer.satisfaction": "4",
        "items.0.name": "notepad",
        "items.0.tags": "office",
        "items.0.price": "2.50",
        "items.0.quantity": "7",
        "items.1.name": "pens",
        "items.1.tags": "writing",
        "items.1.price": "1.25",
        "items.1.quantity": "2",
    }
    shown = await with_cookies(client, "POST", f"/sales/{SALE_ID}/edit", session(), data=form)

    assert shown.status_code == 412
    conflict = shown.text.split('id="conflict"')[1].split('id="reload-latest"')[0]
    assert "Someone else changed this sale" in conflict
    assert 'Version 2</strong> by <span class="mono">w2</span>' in conflict
    assert "<del>no</del> → <ins>yes</ins>" in conflict
    assert "You both changed: Store; your value is kept." in conflict
    assert '<input type="hidden" name="version" value="2">' in shown.text, "saving now goes on top of theirs"
    assert 'id="couponUsed" checked' in shown.text, "their coupon change is kept"
    assert "<option selected>Seattle</option>" in shown.text, "my store is laid on it"
    assert 'name="items.0.quantity" aria-label="Item 1 quantity" inputmode="numeric" value="7"' in shown.text


async def test_the_remove_button_takes_its_item_row_out_of_the_form_and_saves_nothing(gateway) -> None:
    client, upstreams = gateway
    form = {
        "csrf_token": CSRF,
        "version": "3",
        "items.0.name": "notepad",
        "items.0.quantity": "1",
        "items.1.name": "pens",
        "items.1.quantity": "2",
        "items.2.name": "bag",
        "items.2.quantity": "1",
        "remove_item": "1",
    }
    shown = await with_cookies(client, "POST", f"/sales/{SALE_ID}/edit", session(), data=form)
    assert shown.status_code == 200
    assert [r.method for r in upstreams.seen if "sales" in r.url.path] == []
    assert 'value="notepad"' in shown.text
    assert 'value="bag"' in shown.text
    assert 'value="pens"' not in shown.text
    assert '<input type="hidden" name="version" value="3">' in shown.text


async def test_deleting_a_sale_changed_meanwhile_asks_again_with_the_sale_as_stored_now(gateway) -> None:
    client, upstreams = gateway
    upstreams.handlers[f"GET sales-writer/sales/{SALE_ID}"] = json_reply({"id": SALE_ID, "version": 1, "sale": sale()})
    asked = await with_cookies(client, "GET", f"/sales/{SALE_ID}/delete", session())
    assert asked.status_code == 200
    assert "Denver · Online" in asked.text
    assert '<input type="hidden" name="version" value="1">' in asked.text
    assert 'role="alert"' not in asked.text

    upstreams.handlers[f"DELETE sales-writer/sales/{SALE_ID}"] = json_reply(
        {"status": 412, "title": "Precondition failed", "current_version": 2}, 412
    )
    upstreams.handlers[f"GET sales-writer/sales/{SALE_ID}"] = json_reply(
        {"id": SALE_ID, "version": 2, "sale": sale(storeLocation="Austin")}
    )
    form = {"csrf_token": CSRF, "version": "1"}
    shown = await with_cookies(client, "POST", f"/sales/{SALE_ID}/delete", session(), data=form)

    assert shown.status_code == 412
    assert "This sale was changed since you opened it. Check it again before deleting." in shown.text
    assert "Austin · Online" in shown.text
    assert '<input type="hidden" name="version" value="2">' in shown.text, "confirming now deletes what it shows"
