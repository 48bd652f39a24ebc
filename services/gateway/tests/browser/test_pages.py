"""The dashboard, the customer's purchases, error pages and accessibility, in a real browser at a
desktop's and a phone's size; axe-core checks every page of every role."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from ..conftest import Accounts, Api
from .steps import DESKTOP, SIZES, sign_in_as

pytestmark = pytest.mark.browser


@pytest.fixture
def pages(browser: Browser, gateway_url: str) -> Iterator[Any]:
    """Opens pages at a given size; `bypass_csp` lets the test add axe-core's script to a page whose
    policy allows only its own scripts."""
    contexts = []

    def open_page(size: dict[str, int]) -> Page:
        context = browser.new_context(base_url=gateway_url, viewport=size, bypass_csp=True)
        context.set_default_timeout(30_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def serious_violations(page: Page, axe_script: str) -> list[dict[str, Any]]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_script)
    found = page.evaluate(
        """async () => (await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a",
        "wcag21aa", "wcag22aa", "best-practice"] } })).violations.map((v) => ({ id: v.id, impact: v.impact,
        help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }))"""
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


def assert_accessible(page: Page, axe_script: str, where: str) -> None:
    violations = serious_violations(page, axe_script)
    assert not violations, f"{where}: " + json.dumps(violations, indent=1)


def assert_fits(page: Page, width: int) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} is {scroll_width} px wide on a {width} px screen"


def wait_for_figures(page: Page) -> None:
    expect(page.locator("[data-chart]:not([data-state=shown]):not([data-state=failed])")).to_have_count(0)
    expect(page.locator("#kpis .stat-value.loading")).to_have_count(0)


@pytest.fixture(scope="module")
def todays_sales(api: Api) -> list[str]:
    """Sales made today in two stores, so that the short periods have bars to draw."""
    now = datetime.now(UTC).replace(microsecond=0)
    made = []
    for store, quantity in (("Denver", 3), ("Seattle", 5), ("Denver", 1)):
        sale_id, version = api.create_sale(
            f"today.{secrets.token_hex(3)}@example.com",
            store=store,
            quantity=quantity,
            saleDate=now.isoformat().replace("+00:00", ".000Z"),
        )
        api.wait_projected(sale_id, version)
        made.append(sale_id)
    return made


@pytest.mark.parametrize("size", SIZES)
def test_the_dashboard_shows_each_figure_on_its_own_with_its_change_and_a_table(
    pages: Any, accounts: Accounts, todays_sales: list[str], screenshots: Path, axe_script: str, size: str
) -> None:
    page: Page = pages(SIZES[size])
    manager = accounts["senior_management"]
    sign_in_as(page, manager)
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    page.get_by_role("link", name="Last 7 days").click()
    expect(page).to_have_url(re.compile(r"period=7d"))
    expect(page.locator("#period-words")).to_contain_text("compared with")
    wait_for_figures(page)
    expect(page.locator("[data-chart][data-state=shown]")).to_have_count(5)
    expect(page.locator("#kpi-revenue")).to_have_text(re.compile(r"^\$\d[\d,]*\.\d\d$"))
    expect(page.locator('[data-kpi="revenue"] [data-note]')).to_contain_text("previous period")
    day_bars = page.locator("#chart-by-day svg rect.bar")
    assert day_bars.count() >= 1, "today's sales are drawn a bar a day"
    stores = page.locator("#chart-by-store")
    expect(stores.locator("svg text.val").first).to_have_text(re.compile(r"^\$\d[\d,]*\.\d\d$"), timeout=5000)
    stores.locator("summary").click()
    expect(stores.locator("table")).to_contain_text("Denver")
    assert_fits(page, SIZES[size]["width"])
    assert_accessible(page, axe_script, f"dashboard at {size}")
    page.screenshot(path=str(screenshots / f"dashboard-{size}.png"), full_page=True)

    store = stores.locator("table tbody th").first.inner_text()
    stores.locator("svg rect.bar.linked").first.click()
    expect(page).to_have_url(re.compile(r"/sales\?.*store="))
    expect(page.locator("select[name=store]")).to_have_value(store)
    expect(page.locator("#sales tbody tr").first).to_be_visible()
    for row in page.locator("#sales tbody tr").all():
        expect(row).to_contain_text(store)
    expect(page.locator("#results-heading")).to_have_text(re.compile(r"^\d[\d,]* sales?, \$\d[\d,]*\.\d\d$"))


def test_the_whole_history_is_drawn_on_a_time_axis_by_month(
    pages: Any, accounts: Accounts, todays_sales: list[str], screenshots: Path
) -> None:
    page: Page = pages(DESKTOP)
    manager = accounts["senior_management"]
    sign_in_as(page, manager, "/dashboard?period=all")
    wait_for_figures(page)
    months = page.locator("#chart-by-month")
    expect(months.locator("h2")).to_have_text("Revenue by month")
    expect(months.locator("svg rect.bar").first).to_be_attached()
    this_month = datetime.now(UTC).strftime("%b %Y")
    months.locator("summary").click()
    expect(months.locator("table")).to_contain_text(this_month)
    expect(page.locator('[data-kpi="revenue"] [data-note]')).to_have_text("")


def test_a_figure_that_fails_says_so_plainly_and_loads_on_retry_while_the_others_show(
    pages: Any, accounts: Accounts, todays_sales: list[str], screenshots: Path
) -> None:
    page: Page = pages(DESKTOP)
    failures = {"left": 1}

    def fail_once(route: Route) -> None:
        if failures["left"]:
            failures["left"] -= 1
            route.fulfill(
                status=503,
                content_type="application/problem+json",
                body=json.dumps({"title": "Service unavailable", "status": 503, "detail": "circuit open"}),
            )
        else:
            route.continue_()

    page.route(re.compile(r"/api/analytics/by-store"), fail_once)
    manager = accounts["senior_management"]
    sign_in_as(page, manager, "/dashboard?period=30d")
    wait_for_figures(page)
    failed = page.locator("#chart-by-store .chart-error")
    expect(failed).to_contain_text("These figures are not available right now.")
    expect(page.locator("#charts")).not_to_contain_text("circuit")
    expect(page.locator("[data-chart][data-state=shown]")).to_have_count(4)
    page.screenshot(path=str(screenshots / "dashboard-figure-failed.png"), full_page=True)
    failed.get_by_role("button", name="Try again").click()
    expect(page.locator("#chart-by-store svg rect.bar").first).to_be_attached()


@pytest.mark.parametrize("size", SIZES)
def test_a_customer_reads_their_purchases_with_store_times_at_both_sizes(
    pages: Any, accounts: Accounts, customer_sale: str, screenshots: Path, axe_script: str, size: str
) -> None:
    page: Page = pages(SIZES[size])
    customer = accounts["customer"]
    sign_in_as(page, customer)
    expect(page).to_have_url(re.compile(r"/purchases$"))
    row = page.locator("#purchases tbody tr").first
    expect(row).to_contain_text("UTC")
    expect(row.locator(".local-time")).to_contain_text("store time")
    expect(row.locator('td[data-label="Total"]')).to_be_in_viewport(ratio=1)
    expect(page.locator("footer")).not_to_contain_text("API reference")
    assert_fits(page, SIZES[size]["width"])
    assert_accessible(page, axe_script, f"purchases at {size}")
    page.screenshot(path=str(screenshots / f"customer-purchases-{size}.png"), full_page=True)


def test_errors_are_pages_a_forbidden_next_page_leads_home_and_the_skip_link_works(
    pages: Any, accounts: Accounts, screenshots: Path, axe_script: str
) -> None:
    page: Page = pages(DESKTOP)
    missing = page.goto("/no/such/page")
    assert missing is not None
    assert missing.status == 404
    expect(page.locator("h1")).to_have_text("Page not found")
    assert_accessible(page, axe_script, "404 page")
    page.screenshot(path=str(screenshots / "page-not-found.png"), full_page=True)

    customer = accounts["customer"]
    sign_in_as(page, customer, "/dashboard")
    expect(page).to_have_url(re.compile(r"/purchases$"))

    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def test_row_actions_name_the_sale_they_act_on(pages: Any, accounts: Accounts, api: Api) -> None:
    page: Page = pages(DESKTOP)
    sale_id, version = api.create_sale(
        f"named.{secrets.token_hex(3)}@example.com", saleDate="2017-12-12T18:00:00.000Z", store="Denver"
    )
    api.wait_projected(sale_id, version)
    worker = accounts["technical_worker"]
    sign_in_as(page, worker, "/sales?store=Denver&date_from=2017-12-12&date_to=2017-12-12")
    row = page.locator(f'#sales tr[data-sale-id="{sale_id}"]')
    expect(row.get_by_role("link", name="Edit sale of 12 Dec 2017, Denver")).to_be_visible()
    expect(row.get_by_role("link", name="Delete sale of 12 Dec 2017, Denver")).to_be_visible()


def test_every_page_of_every_role_has_no_serious_accessibility_violation(
    pages: Any, accounts: Accounts, api: Api, todays_sales: list[str], screenshots: Path, axe_script: str
) -> None:
    sale_id = todays_sales[0]
    every = {
        None: ["/login", "/register", "/verify-email?token=unknown", "/no/such/page"],
        "customer": ["/purchases", "/dashboard"],
        "technical_worker": [
            "/sales",
            "/sales?total_min=ten&date_from=2017-02-01&date_to=2017-01-01",
            "/sales?item=note&sort=total_desc&size=50",
            f"/sales/{sale_id}",
            f"/sales/{sale_id}/journey",
            "/sales/new",
            f"/sales/{sale_id}/edit",
            f"/sales/{sale_id}/delete",
            "/sales/import",
            "/ops",
            "/docs",
        ],
        "senior_management": [
            "/dashboard",
            "/dashboard?period=7d",
            "/dashboard?date_from=2020-01-01&date_to=2019-01-01",
            "/sales",
            f"/sales/{sale_id}",
            "/staff",
            "/staff?tab=customers",
            "/ops",
        ],
    }
    found: dict[str, Any] = {}
    for size_name, size in SIZES.items():
        for who, paths in every.items():
            page: Page = pages(size)
            if who:
                account = accounts[who]
                sign_in_as(page, account)
            for path in paths:
                page.goto(path)
                if path.startswith("/dashboard") and page.locator("#kpis").count():
                    wait_for_figures(page)
                violations = serious_violations(page, axe_script)
                if violations:
                    found[f"{who} {path} at {size_name}"] = violations
            page.context.close()
    assert not found, json.dumps(found, indent=1)
