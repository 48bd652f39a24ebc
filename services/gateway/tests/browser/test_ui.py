"""The web UI in a real browser, against the running services."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from supply_common.testing.mail import link_in, wait_for_mail

from ..conftest import Accounts, Api

pytestmark = pytest.mark.browser


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")


def sign_out(page: Page) -> None:
    page.click("#logout")
    expect(page.locator(".alert-ok")).to_contain_text("signed out")


def test_a_new_customer_registers_confirms_the_email_signs_in_and_sees_their_purchases(
    page: Page, api: Api, accounts: Accounts, gateway_url: str, screenshots: Path
) -> None:
    email = f"shopper.{secrets.token_hex(4)}@example.com"
    password = f"Shop-{secrets.token_urlsafe(10)}"
    sale_id, version = api.create_sale(email, store="Seattle", quantity=3)
    api.wait_projected(sale_id, version)

    page.goto("/register")
    page.fill("#name", "Sam Shopper")
    page.fill("#email", email)
    page.fill("#password", password)
    page.fill("#password_confirm", password + "x")
    page.click("button[type=submit]")
    expect(page.locator('[data-field="password_confirm"]')).to_contain_text("differ")
    page.fill("#password", password)
    page.fill("#password_confirm", password)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Check your inbox")
    expect(page.locator("#sent-to")).to_have_text(email)
    page.screenshot(path=str(screenshots / "customer-check-inbox.png"), full_page=True)

    sign_in(page, email, password)
    expect(page.locator(".alert-error")).to_contain_text("Confirm your email first")
    page.screenshot(path=str(screenshots / "customer-unconfirmed.png"), full_page=True)

    link = link_in(wait_for_mail(accounts.mail_dir, email))
    assert link.startswith(f"{gateway_url}/verify-email?token=")
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Confirm your email")
    page.screenshot(path=str(screenshots / "customer-confirm-email.png"), full_page=True)
    page.click("#confirm-email")
    expect(page).to_have_url(re.compile(r"/login\?confirmed=1$"))
    expect(page.locator(".alert-ok")).to_contain_text("confirmed")

    sign_in(page, email, "wrong-password-123")
    expect(page.locator(".alert-error")).to_contain_text("do not match")
    sign_in(page, email, password)
    expect(page).to_have_url(re.compile(r"/purchases$"))
    expect(page.locator("#purchases tbody tr")).to_have_count(1)
    expect(page.locator("#purchases")).to_contain_text("Seattle")
    expect(page.locator("#purchase-count")).to_have_text("1")
    expect(page.locator("#purchase-revenue")).to_have_text("$10.50")
    page.screenshot(path=str(screenshots / "customer-purchases.png"), full_page=True)
    sign_out(page)

    page.goto(link)
    page.click("#confirm-email")
    expect(page.locator(".alert-error")).to_contain_text("Register again with the same email")


def test_a_technical_worker_creates_edits_and_deletes_a_sale(page: Page, accounts: Accounts, screenshots: Path) -> None:
    worker = accounts["technical_worker"]
    buyer = f"walk.in.{secrets.token_hex(4)}@example.com"
    sign_in(page, worker.email, worker.password)
    expect(page).to_have_url(re.compile(r"/sales$"))

    page.click("#new-sale")
    page.fill("#saleDate", "2031-01-15T09:30:00.000")
    page.select_option("#storeLocation", "London")
    page.select_option("#purchaseMethod", "Phone")
    page.fill("[name='customer.email']", buyer)
    page.select_option("[name='customer.gender']", "M")
    page.fill("[name='customer.age']", "abc")
    page.select_option("[name='customer.satisfaction']", "5")
    page.fill("[name='items.0.name']", "binder")
    page.fill("[name='items.0.tags']", "school, general")
    page.fill("[name='items.0.price']", "12.25")
    page.fill("[name='items.0.quantity']", "2")
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
    current = api.call("GET", f"/api/sales/{sale_id}/current", "technical_worker").json()["sale"]
    current.pop("_id")
    changed = api.call(
        "PUT",
        f"/api/sales/{sale_id}",
        "technical_worker",
        json={**current, "couponUsed": True},
        headers={"if-match": f'"{version}"'},
    )
    assert changed.status_code == 200, changed.text
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
    expect(page.locator("#charts svg .axis-label").first).to_contain_text("USD")
    page.screenshot(path=str(screenshots / "manager-dashboard.png"), full_page=True)

    email = f"new.worker.{secrets.token_hex(4)}@example.com"
    password = f"Work-{secrets.token_urlsafe(10)}"
    page.goto("/staff")
    page.fill("#new-account #name", "Nia Worker")
    page.fill("#new-account #email", email)
    page.fill("#new-account #password", password)
    page.select_option("#new-account #role", "technical_worker")
    page.click("#create-account")
    expect(page.locator(".alert-ok")).to_contain_text(email)
    expect(page.locator(f'#users tr[data-email="{email}"]')).to_contain_text("Active")
    page.screenshot(path=str(screenshots / "manager-staff.png"), full_page=True)
    sign_out(page)

    sign_in(page, email, password)
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
