"""The web UI in a real browser, against the running services."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from supply_common.testing.mail import link_in, wait_for_mail

from ..conftest import Accounts, Api
from .steps import PHONE, choose_password, send_invitation, sign_in, type_sale

pytestmark = pytest.mark.browser


def sign_out(page: Page) -> None:
    page.click("#logout")
    expect(page.locator(".alert-ok")).to_contain_text("signed out")


def test_a_new_customer_registers_chooses_a_password_from_the_mail_and_sees_their_purchases(
    page: Page, api: Api, accounts: Accounts, gateway_url: str, screenshots: Path
) -> None:
    email = f"shopper.{secrets.token_hex(4)}@example.com"
    password = f"Shop-{secrets.token_urlsafe(10)}"
    sale_id, version = api.create_sale(email, store="Seattle", quantity=3)
    api.wait_projected(sale_id, version)

    page.goto("/register")
    expect(page.locator("#password")).to_have_count(0)
    page.fill("#name", "Sam Shopper")
    page.fill("#email", email)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Check your inbox")
    expect(page.locator("#sent-to")).to_have_text(email)
    page.screenshot(path=str(screenshots / "customer-check-inbox.png"), full_page=True)

    sign_in(page, email, password)
    expect(page.locator(".alert-error")).to_contain_text("do not match")
    page.screenshot(path=str(screenshots / "customer-no-password-yet.png"), full_page=True)

    link = link_in(wait_for_mail(accounts.mail_dir, email))
    assert link.startswith(f"{gateway_url}/verify-email?token=")
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Choose your password")
    page.screenshot(path=str(screenshots / "customer-choose-password.png"), full_page=True)
    choose_password(page, password, password + "x")
    expect(page.locator('[data-field="password_confirm"]')).to_contain_text("differ")
    choose_password(page, password)
    expect(page).to_have_url(re.compile(r"/purchases$"))
    sign_out(page)

    sign_in(page, email, "wrong-password-123")
    expect(page.locator(".alert-error")).to_contain_text("do not match")
    sign_in(page, email, password)
    expect(page).to_have_url(re.compile(r"/purchases$"))
    expect(page.locator("#purchases tbody tr")).to_have_count(1)
    expect(page.locator("#purchases")).to_contain_text("Seattle")
    expect(page.locator("#purchase-count")).to_have_text("1")
    expect(page.locator("#purchase-revenue")).to_have_text("$7.50")
    page.screenshot(path=str(screenshots / "customer-purchases.png"), full_page=True)
    sign_out(page)

    page.goto(link)
    choose_password(page, "another passphrase")
    expect(page.locator(".alert-error")).to_contain_text("Register again with the same email")


def test_a_technical_worker_creates_edits_and_deletes_a_sale(page: Page, accounts: Accounts, screenshots: Path) -> None:
    worker = accounts["technical_worker"]
    buyer = f"walk.in.{secrets.token_hex(4)}@example.com"
    sign_in(page, worker.email, worker.password)
    expect(page).to_have_url(re.compile(r"/sales$"))

    page.click("#new-sale")
    type_sale(page, buyer, {"customer.age": "abc"})
    page.click("#save")
    expect(page.locator('[data-field="customer.age"]')).to_be_visible()
    page.screenshot(path=str(screenshots / "worker-sale-validation.png"), full_page=True)
    page.fill("[name='customer.age']", "41")
    page.click("#save")

    expect(page).to_have_url(re.compile(r"/sales\?saved="))
    row = page.locator("#sales tbody tr.highlight")
    expect(row).to_contain_text(buyer)
    expect(row).to_contain_text("$24.50")
    sale_id = row.get_attribute("data-sale-id")
    page.screenshot(path=str(screenshots / "worker-sales-after-create.png"), full_page=True)

    row.get_by_text("Edit").click()
    page.fill("[name='items.0.quantity']", "4")
    page.click("#save")
    expect(page.locator(f'#sales tr[data-sale-id="{sale_id}"]')).to_contain_text("$49.00")

    page.locator(f'#sales tr[data-sale-id="{sale_id}"]').get_by_text("Delete").click()
    expect(page.locator("h1")).to_contain_text("Delete this sale?")
    page.screenshot(path=str(screenshots / "worker-delete-confirm.png"), full_page=True)
    page.click("#confirm-delete")
    expect(page.locator(".alert-ok")).to_contain_text("deleted")
    expect(page.locator(f'#sales tr[data-sale-id="{sale_id}"]')).to_have_count(0)


def test_an_edit_conflict_is_shown_with_a_reload(page: Page, accounts: Accounts, api: Api, screenshots: Path) -> None:
    worker = accounts["technical_worker"]
    sale_id, version = api.create_sale(f"conflict.{secrets.token_hex(3)}@example.com")
    sign_in(page, worker.email, worker.password)
    page.goto(f"/sales/{sale_id}/edit")
    current, _ = api.stored_sale(sale_id)
    api.replace_sale(sale_id, version, current | {"couponUsed": True})
    page.fill("[name='items.0.quantity']", "7")
    page.click("#save")
    expect(page.locator("#conflict")).to_contain_text("Someone else changed this sale")
    page.screenshot(path=str(screenshots / "worker-edit-conflict.png"), full_page=True)
    page.click("#reload-latest")
    expect(page.locator("#couponUsed")).to_be_checked()


def test_a_senior_manager_sees_the_charts_and_creates_a_technical_worker(
    page: Page, accounts: Accounts, screenshots: Path
) -> None:
    manager = accounts["senior_management"]
    sign_in(page, manager.email, manager.password)
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    charts = page.locator("#charts figure")
    expect(charts).to_have_count(5)
    for title in ("Revenue by store", "Revenue by month", "Revenue by purchase method", "Top items", "satisfaction"):
        expect(page.locator("#charts")).to_contain_text(title)
    expect(page.locator("#chart-by-store svg text.val").first).to_contain_text("$")
    page.screenshot(path=str(screenshots / "manager-dashboard.png"), full_page=True)

    email = f"new.worker.{secrets.token_hex(4)}@example.com"
    password = f"Work-{secrets.token_urlsafe(10)}"
    page.goto("/staff")
    send_invitation(page, "Nia Worker", email, "technical_worker")
    expect(page.locator(".alert-ok")).to_contain_text(email)
    page.screenshot(path=str(screenshots / "manager-staff.png"), full_page=True)
    sign_out(page)

    page.goto(link_in(wait_for_mail(accounts.mail_dir, email)))
    choose_password(page, password)
    expect(page).to_have_url(re.compile(r"/sales$"))
    expect(page.locator(".who .badge")).to_have_text("Technical worker")
    page.goto("/ops")
    expect(page.locator("#ops-status")).to_be_visible()
    page.screenshot(path=str(screenshots / "worker-replication.png"), full_page=True)


def test_a_customer_opening_a_technical_page_is_refused(page: Page, accounts: Accounts, screenshots: Path) -> None:
    customer = accounts["customer"]
    sign_in(page, customer.email, customer.password)
    expect(page).to_have_url(re.compile(r"/purchases$"))
    for path in ("/sales", "/sales/new", "/staff", "/dashboard"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 403, path
        expect(page.locator("h1")).to_have_text("Not allowed")
    page.screenshot(path=str(screenshots / "customer-refused.png"), full_page=True)


def test_signed_out_visitors_are_sent_to_sign_in(page: Page, screenshots: Path) -> None:
    page.goto("/sales")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fsales"))
    page.screenshot(path=str(screenshots / "login.png"), full_page=True)


def test_the_replication_page_goes_to_sign_in_when_the_session_ends(page: Page, accounts: Accounts) -> None:
    worker = accounts["technical_worker"]
    sign_in(page, worker.email, worker.password)
    page.goto("/ops")
    expect(page.locator("#ops-status")).to_be_visible()
    page.context.clear_cookies(name=re.compile("^sg_(access|refresh)$"))
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fops$"), timeout=15_000)
    expect(page.locator("#ops-panel")).to_have_count(0)
    page.fill("#email", worker.email)
    page.fill("#password", worker.password)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/ops$"))
    expect(page.locator("header.topbar")).to_have_count(1)
    expect(page.locator("#ops-panel #ops-status")).to_be_visible()


def assert_fits_the_phone(page: Page, path: str, screenshots: Path) -> None:
    page.goto(path)
    scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    name = path.strip("/").replace("/", "-").replace("?", "-") or "home"
    page.screenshot(path=str(screenshots / f"phone-{name}.png"), full_page=True)
    assert scroll_width <= inner_width, f"{path} is {scroll_width} px wide on a {inner_width} px screen"
    if page.locator("#logout").count():
        expect(page.locator("#logout")).to_be_in_viewport(ratio=1)
        for link in page.locator(".nav a").all():
            expect(link).to_be_in_viewport(ratio=1)


def test_every_page_fits_a_phone_screen(
    page: Page, accounts: Accounts, api: Api, customer_sale: str, screenshots: Path
) -> None:
    page.set_viewport_size(PHONE)
    sale_id, _ = api.create_sale(f"phone.{secrets.token_hex(3)}.with.a.long.address@example.com")
    for path in ("/login", "/register", "/docs"):
        assert_fits_the_phone(page, path, screenshots)
    for who, paths in (
        ("customer", ["/purchases"]),
        (
            "technical_worker",
            ["/sales", "/sales/new", f"/sales/{sale_id}/edit", f"/sales/{sale_id}/delete", "/sales/import", "/ops"],
        ),
        ("senior_management", ["/dashboard", "/dashboard?date_from=2020-01-01&date_to=2019-01-01", "/staff", "/sales"]),
    ):
        account = accounts[who]
        page.context.clear_cookies()
        sign_in(page, account.email, account.password)
        expect(page.locator("#logout")).to_be_visible()
        for path in paths:
            assert_fits_the_phone(page, path, screenshots)
            if path == "/sales/new":
                box = page.locator("[name='items.0.price']").bounding_box()
                assert box is not None
                assert box["width"] >= 120, box


def test_a_reversed_dashboard_period_is_shown_next_to_the_date_pickers(page: Page, accounts: Accounts) -> None:
    manager = accounts["senior_management"]
    sign_in(page, manager.email, manager.password)
    response = page.goto("/dashboard?date_from=2020-01-01&date_to=2019-01-01")
    assert response is not None
    assert response.status == 422
    expect(page.locator('[data-field="date_to"]')).to_contain_text("on or after the start date")
    expect(page.locator("#date_from")).to_have_value("2020-01-01")
    page.fill("#date_to", "2020-12-31")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"date_to=2020-12-31"))
    expect(page.locator("#charts [data-chart][data-state=shown]")).to_have_count(5, timeout=30_000)


def end_the_session(page: Page) -> None:
    """As if the session was signed out elsewhere: the session cookies no longer name a live login."""
    page.context.clear_cookies(name=re.compile("^sg_(access|refresh)$"))
    url = page.url
    page.context.add_cookies([{"name": "sg_refresh", "value": "revoked-elsewhere", "url": url}])


def test_a_sale_typed_while_the_session_ended_comes_back_after_signing_in_again(
    page: Page, accounts: Accounts, screenshots: Path
) -> None:
    worker = accounts["technical_worker"]
    buyer = f"late.{secrets.token_hex(4)}@example.com"
    sign_in(page, worker.email, worker.password)
    page.goto("/sales/new")
    type_sale(page, buyer, {"storeLocation": "Austin", "items.0.name": "stapler"})
    end_the_session(page)
    page.click("#save")
    expect(page.locator(".alert-warn")).to_contain_text("session ended")
    page.screenshot(path=str(screenshots / "worker-session-ended-on-save.png"), full_page=True)
    page.fill("#email", worker.email)
    page.fill("#password", worker.password)
    page.click("button[type=submit]")
    expect(page.locator(".alert-warn")).to_contain_text("not been saved")
    expect(page.locator("[name='customer.email']")).to_have_value(buyer)
    expect(page.locator("[name='items.0.name']")).to_have_value("stapler")
    expect(page.locator("#storeLocation")).to_have_value("Austin")
    page.click("#save")
    expect(page).to_have_url(re.compile(r"/sales\?saved="))
    expect(page.locator("#sales tbody tr.highlight")).to_contain_text(buyer)


def test_a_page_opened_after_the_session_ended_says_so_on_the_sign_in_page(page: Page, accounts: Accounts) -> None:
    manager = accounts["senior_management"]
    sign_in(page, manager.email, manager.password)
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    end_the_session(page)
    page.goto("/staff")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fstaff&reason=ended$"))
    expect(page.locator(".alert-warn")).to_have_text("Your session ended — sign in again.")


def test_the_sale_form_says_what_is_wrong_in_plain_words(page: Page, accounts: Accounts) -> None:
    worker = accounts["technical_worker"]
    sign_in(page, worker.email, worker.password)
    page.goto("/sales/new")
    page.fill("[name='customer.email']", "not-an-address")
    page.fill("[name='items.0.name']", "binder")
    page.fill("[name='items.0.price']", "1.234")
    page.fill("[name='items.0.quantity']", "2")
    page.click("#save")
    expect(page.locator('[data-field="customer.gender"]')).to_have_text("Choose a gender.")
    expect(page.locator('[data-field="customer.satisfaction"]')).to_have_text("Choose a score from 1 to 5.")
    expect(page.locator('[data-field="customer.email"]')).to_have_text("Enter an email address like name@example.com.")
    expect(page.locator('[data-field="storeLocation"]')).to_have_text("Choose a store.")
    expect(page.locator('[data-field="items.0.price"]')).to_contain_text("at most 2 decimal places")
    expect(page.locator(".sale-form")).not_to_contain_text("Input should")
    expect(page.locator(".sale-form")).not_to_contain_text("Value error")


def described_error(page: Page, selector: str) -> str:
    """The text a screen reader gives as the description of a field."""
    return str(
        page.eval_on_selector(
            selector,
            "input => input.getAttribute('aria-invalid') === 'true'"
            " ? document.getElementById(input.getAttribute('aria-describedby')).textContent : ''",
        )
    )


def test_field_errors_reach_screen_readers_and_focus(page: Page, accounts: Accounts) -> None:
    worker = accounts["technical_worker"]
    sign_in(page, worker.email, "wrong-password-123")
    expect(page.locator(".alert-error")).to_be_focused()

    sign_in(page, worker.email, worker.password)
    page.goto("/sales/new")
    page.fill("#saleDate", "")
    page.fill("[name='items.0.name']", "binder")
    page.fill("[name='items.0.quantity']", "x")
    page.click("#save")
    expect(page.locator("#saleDate")).to_be_focused()
    assert described_error(page, "#saleDate") == "Enter the date and time of the sale."
    assert described_error(page, "[name='customer.gender']") == "Choose a gender."
    assert described_error(page, "[name='items.0.quantity']") == "Enter a whole number of at least 1."
    assert described_error(page, "[name='items.0.name']") == ""

    page.context.clear_cookies()
    email = f"ann.{secrets.token_hex(3)}@example.com"
    page.goto("/register")
    page.fill("#name", "Ann")
    page.fill("#email", email)
    page.click("button[type=submit]")
    page.goto(link_in(wait_for_mail(accounts.mail_dir, email)))
    choose_password(page, "Long-enough-pw-1", "Long-enough-pw-2")
    expect(page.locator("#password_confirm")).to_be_focused()
    assert "differ" in described_error(page, "#password_confirm")


def test_importing_an_empty_file_says_it_held_no_sales(page: Page, accounts: Accounts) -> None:
    worker = accounts["technical_worker"]
    sign_in(page, worker.email, worker.password)
    page.goto("/sales/import")
    page.set_input_files("#import-file", files=[{"name": "empty.json", "mimeType": "application/json", "buffer": b""}])
    page.click("#import-start")
    expect(page.locator("#import-status")).to_have_text("empty.json held no sales: nothing was imported.")
    expect(page.locator("#import-empty")).to_be_visible()
