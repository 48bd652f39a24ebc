"""The sales list's search and the sale page with its history, in a real browser at a desktop and a
phone size."""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from supply_common.testing.sales import sale_body

from ..conftest import SUMMARY_COUNT_CAP, Accounts, Api
from .steps import sign_in_as
from .test_pages import assert_accessible

pytestmark = pytest.mark.browser

SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


@pytest.fixture(params=sorted(SIZES))
def sized(request: pytest.FixtureRequest, browser, gateway_url: str) -> Iterator[tuple[str, Page]]:  # type: ignore[no-untyped-def]
    width, height = SIZES[request.param]
    context = browser.new_context(base_url=gateway_url, viewport={"width": width, "height": height}, bypass_csp=True)
    context.set_default_timeout(20_000)
    yield request.param, context.new_page()
    context.close()


@pytest.fixture
def edited_sale(api: Api) -> tuple[str, str]:
    """A sale of a new customer, changed once by a technical worker (two versions), in the copy."""
    email = f"Hist.{secrets.token_hex(4)}@example.com".lower()
    items = [
        {"name": "Spiral notepad", "tags": ["office", "school"], "price": "3.40", "quantity": 5},
        {"name": "pens", "tags": ["writing"], "price": "1.25", "quantity": 2},
    ]
    sale_id, version = api.create_sale(email, store="Austin", items=items)
    changed = api.replace_sale(sale_id, version, sale_body(email=email, store="Seattle", items=items, couponUsed=True))
    api.wait_projected(sale_id, changed)
    return sale_id, email


def test_the_list_finds_a_sale_by_part_of_its_email_and_item_in_any_case_and_exports_the_match(
    sized: tuple[str, Page], accounts: Accounts, edited_sale: tuple[str, str], screenshots: Path
) -> None:
    size, page = sized
    sale_id, email = edited_sale
    sign_in_as(page, accounts["technical_worker"])

    page.goto("/sales")
    page.fill("input[name=email]", email[:12].upper())
    page.fill("input[name=item]", "NOTE")
    page.click("button[type=submit].primary")
    expect(page.locator("#sales tbody tr")).to_have_count(1)
    expect(page.locator(f'#sales tr[data-sale-id="{sale_id}"]')).to_contain_text("Seattle")
    expect(page.locator("#results-heading")).to_have_text("1 sale, $19.50")
    page.screenshot(path=str(screenshots / f"worker-sales-search-{size}.png"), full_page=True)

    exported = page.request.get(page.locator("#export-csv").get_attribute("href") or "")
    assert exported.status == 200
    rows = list(csv.DictReader(io.StringIO(exported.text())))
    assert [(row["id"], row["total"]) for row in rows] == [(sale_id, "19.5")]

    page.goto("/sales?tag=OFF&sort=total_desc&size=10")
    expect(page.locator("#sales tbody tr")).not_to_have_count(0)
    if size == "desktop":  # on a phone the list is cards, sorted from the form
        expect(page.locator("th[aria-sort=descending] #sort-total")).to_be_visible()
    expect(page.locator("select[name=sort]")).to_have_value("total_desc")
    totals = [float(t.replace("$", "").replace(",", "")) for t in page.locator("#sales tbody td.num").all_inner_texts()]
    assert totals == sorted(totals, reverse=True)
    assert len(totals) <= 10
    page.screenshot(path=str(screenshots / f"worker-sales-by-total-{size}.png"), full_page=True)
    if page.locator("#next-page").count():
        first = page.locator("#sales tbody tr").first.get_attribute("data-sale-id")
        page.click("#next-page")
        page.click("#prev-page")
        expect(page.locator("#sales tbody tr").first).to_have_attribute("data-sale-id", first or "")


def test_the_list_says_how_many_sales_match_exactly_or_that_there_are_more_than_it_counted(
    sized: tuple[str, Page], accounts: Accounts, api: Api, screenshots: Path, axe_script: str
) -> None:
    size, page = sized
    word = f"gizmo{secrets.token_hex(3)}"
    day = date(1950, 1, 1) + timedelta(days=secrets.randbelow(40 * 365))
    made = [
        api.create_sale(
            f"count.{secrets.token_hex(4)}@example.com",
            store="Austin",
            saleDate=datetime.combine(day, time(5 * quantity, 30), UTC).isoformat().replace("+00:00", ".000Z"),
            items=[{"name": f"{word} pad", "tags": ["office"], "price": "2.00", "quantity": quantity}],
        )
        for quantity in range(1, SUMMARY_COUNT_CAP + 2)
    ]
    for sale_id, version in made:
        api.wait_projected(sale_id, version)
    sign_in_as(page, accounts["technical_worker"])

    page.goto(f"/sales?date_from={day}&date_to={day}")
    expect(page.locator("#sales tbody tr")).to_have_count(len(made))
    total = sum(2 * quantity for quantity in range(1, len(made) + 1))
    expect(page.locator("#results-heading")).to_have_text(f"{len(made)} sales, ${total}.00")

    page.goto(f"/sales?item={word.upper()}")
    expect(page.locator("#sales tbody tr")).to_have_count(len(made))
    expect(page.locator("#results-heading")).to_have_text(
        f"More than {SUMMARY_COUNT_CAP} sales (export the whole match for every row)"
    )
    assert_accessible(page, axe_script, f"sales list counted up to its cap at {size}")
    page.screenshot(path=str(screenshots / f"worker-sales-more-than-{size}.png"), full_page=True)
    exported = page.request.get(page.get_by_role("link", name="export the whole match").get_attribute("href") or "")
    assert exported.status == 200
    assert sorted(row["id"] for row in csv.DictReader(io.StringIO(exported.text()))) == sorted(i for i, _ in made)


def test_the_sale_page_shows_every_field_line_totals_and_who_changed_what(
    sized: tuple[str, Page], accounts: Accounts, edited_sale: tuple[str, str], screenshots: Path
) -> None:
    size, page = sized
    sale_id, email = edited_sale
    sign_in_as(page, accounts["senior_management"])

    page.goto(f"/sales?email={email}")
    page.locator(f'#sales tr[data-sale-id="{sale_id}"] a.sale-link').click()
    expect(page).to_have_url(re.compile(rf"/sales/{sale_id}$"))
    expect(page.locator("#sale-fields")).to_contain_text(email)
    expect(page.locator("#customer-age")).to_have_text("40")
    expect(page.locator("#customer-satisfaction")).to_have_text("4 of 5")
    expect(page.locator("#sale-items tbody tr")).to_have_count(2)
    expect(page.locator("#sale-items tbody tr").first).to_contain_text("$3.40")
    expect(page.locator("#sale-items tbody tr").first).to_contain_text("$17.00")
    expect(page.locator("#sale-total")).to_have_text("$19.50")
    entries = page.locator("#history .history-entry")
    expect(entries).to_have_count(2)
    expect(entries.first).to_contain_text("Version 2")
    expect(entries.first).to_contain_text("Technical worker")
    expect(entries.first.locator("del").first).to_have_text("Austin")
    expect(entries.first.locator("ins").first).to_have_text("Seattle")
    expect(entries.nth(1)).to_contain_text("First version.")
    page.screenshot(path=str(screenshots / f"manager-sale-page-history-{size}.png"), full_page=True)


def test_an_edit_conflict_lays_my_edits_on_theirs_and_an_item_row_can_be_removed(
    sized: tuple[str, Page], accounts: Accounts, api: Api, edited_sale: tuple[str, str], screenshots: Path
) -> None:
    size, page = sized
    sale_id, _ = edited_sale
    sign_in_as(page, accounts["technical_worker"])
    page.goto(f"/sales/{sale_id}/edit")
    current, version = api.stored_sale(sale_id)
    api.replace_sale(sale_id, version, current | {"purchaseMethod": "Phone"})

    page.fill("[name='items.0.quantity']", "6")
    page.click("#save")
    expect(page.locator("#conflict")).to_contain_text("Someone else changed this sale")
    expect(page.locator("#their-changes")).to_contain_text("Phone")
    expect(page.locator("#purchaseMethod")).to_have_value("Phone")
    expect(page.locator("[name='items.0.quantity']")).to_have_value("6")
    page.screenshot(path=str(screenshots / f"worker-edit-conflict-reapplied-{size}.png"), full_page=True)

    page.locator("button.remove-item").nth(1).click()
    expect(page.locator("[name='items.1.name']")).not_to_have_value("pens")
    page.click("#save")
    expect(page).to_have_url(re.compile(r"/sales\?saved="))
    saved, saved_version = api.stored_sale(sale_id)
    assert saved_version == version + 2
    assert saved["purchaseMethod"] == "Phone"
    assert [(i["name"], i["quantity"]) for i in saved["items"]] == [("Spiral notepad", 6)]
