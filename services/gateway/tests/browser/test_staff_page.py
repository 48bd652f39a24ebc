"""The staff page and the "send the link again" pages in a real browser, at a desktop's and a phone's
size, against the running services."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from supply_common.testing.mail import link_in, read_inbox, wait_for_mail

from ..conftest import Accounts, Api
from .steps import DESKTOP, choose_password, send_invitation, sign_in_as

pytestmark = pytest.mark.browser


def row(page: Page, email: str):  # type: ignore[no-untyped-def]
    return page.locator(f'#users tr[data-email="{email}"]')


def invite(api: Api, role: str = "technical_worker") -> str:
    email = f"invited.{secrets.token_hex(4)}@example.com"
    response = api.call(
        "POST", "/api/users", "senior_management", json={"email": email, "name": "Ivy Invited", "role": role}
    )
    assert response.status_code == 201, response.text
    return email


def registered(api: Api, accounts: Accounts, name: str) -> str:
    """A customer who registered as `name` and was mailed their link, not yet followed: their address."""
    email = f"{name.split()[-1].lower()}.{secrets.token_hex(4)}@example.com"
    assert api.call("POST", "/api/auth/register", json={"email": email, "name": name}).status_code == 202
    wait_for_mail(accounts.mail_dir, email)
    return email


def assert_whole_and_visible(page: Page, selector: str) -> None:
    """The element is entirely on screen and its text is not cut off (the 1440 px "Dis" button)."""
    element = page.locator(selector).first
    element.scroll_into_view_if_needed()
    expect(element).to_be_in_viewport(ratio=1)
    clipped = element.evaluate("e => e.scrollWidth > e.clientWidth + 1")
    assert not clipped, f"{selector} is clipped"


def assert_fits(page: Page) -> None:
    """Nothing wider than the screen, and the account table needs no sideways scrolling: every
    column, the actions included, shows whole."""
    scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, f"the page is {scroll_width} px wide on a {inner_width} px screen"
    table = page.locator("#users").locator("xpath=..")
    if table.count():
        hidden = table.evaluate("wrap => wrap.scrollWidth - wrap.clientWidth")
        assert hidden <= 1, f"the account table hides {hidden} px to the right"


def test_a_manager_invites_a_worker_who_chooses_their_own_password(
    page: Page, accounts: Accounts, screenshots: Path, width: int
) -> None:
    manager = accounts["senior_management"]
    sign_in_as(page, manager)
    page.goto("/staff")
    expect(page.locator("#tab-staff")).to_have_attribute("aria-current", "page")
    expect(page.locator("#new-account input[type=password]")).to_have_count(0)
    assert_fits(page)
    assert_whole_and_visible(
        page, f'#users tr[data-email="{accounts["technical_worker"].email}"] button[value=disable]'
    )
    page.screenshot(path=str(screenshots / f"staff-{width}.png"), full_page=True)

    email = f"nia.{secrets.token_hex(4)}@example.com"
    send_invitation(page, "Nia Worker", email, "technical_worker")
    expect(page.locator(".alert-ok")).to_contain_text(f"Invitation sent to {email}")
    page.fill("#staff-q", email)
    page.click(".staff-search button[type=submit]")
    expect(row(page, email)).to_contain_text("Not confirmed")
    expect(row(page, email)).to_contain_text("Never")
    expect(row(page, email).get_by_role("button", name=f"Resend invitation to {email}")).to_be_visible()
    assert_fits(page)
    page.screenshot(path=str(screenshots / f"staff-invited-{width}.png"), full_page=True)
    page.click("#logout")

    password = f"Work-{secrets.token_urlsafe(10)}"
    page.goto(link_in(wait_for_mail(accounts.mail_dir, email)))
    expect(page.locator("h1")).to_have_text("Choose your password")
    choose_password(page, password)
    expect(page).to_have_url(re.compile(r"/sales$"))
    expect(page.locator(".who .badge")).to_have_text("Technical worker")
    page.click("#logout")

    sign_in_as(page, manager)
    page.goto(f"/staff?q={email}")
    expect(row(page, email)).to_contain_text("Confirmed")
    expect(row(page, email).locator(".last-sign-in")).to_contain_text("UTC")
    expect(row(page, email).get_by_role("button", name=re.compile("Resend"))).to_have_count(0)


def test_disabling_and_a_role_change_are_confirmed_and_the_notice_names_them(
    page: Page, accounts: Accounts, api: Api, screenshots: Path, width: int
) -> None:
    email = invite(api)
    manager = accounts["senior_management"]
    sign_in_as(page, manager)
    page.goto("/staff?sort=-created")

    row(page, email).get_by_role("button", name=f"Disable {email}").click()
    expect(page.locator("#confirm-change")).to_contain_text(f"Disable {email}?")
    assert_fits(page)
    page.screenshot(path=str(screenshots / f"staff-confirm-disable-{width}.png"), full_page=True)
    page.click("#confirm-yes")
    expect(page.locator(".alert-ok")).to_contain_text(f"{email} is disabled")
    expect(page.locator("#staff-sort")).to_have_value("-created")
    expect(row(page, email)).to_contain_text("Disabled")

    row(page, email).get_by_role("button", name=f"Enable {email}").click()
    expect(page.locator(".alert-ok")).to_contain_text(f"{email} is enabled")

    row(page, email).locator("select[name=role]").select_option("senior_management")
    row(page, email).get_by_role("button", name=f"Change the role of {email}").click()
    expect(page.locator("#confirm-change")).to_contain_text("from Technical worker to Senior management")
    page.screenshot(path=str(screenshots / f"staff-confirm-role-{width}.png"), full_page=True)
    page.click("#confirm-yes")
    expect(page.locator(".alert-ok")).to_contain_text(f"{email} is now Senior management (was Technical worker).")

    row(page, email).get_by_role("button", name=f"Disable {email}").click()
    page.click("#confirm-no")
    expect(page.locator("#confirm-change")).to_have_count(0)
    expect(row(page, email)).to_contain_text("Active")


def test_customers_are_a_tab_of_their_own_searched_and_sent_the_link_again(
    page: Page, accounts: Accounts, api: Api, screenshots: Path, width: int
) -> None:
    email = registered(api, accounts, "Wes Waiting")
    manager = accounts["senior_management"]
    sign_in_as(page, manager)
    page.goto("/staff")
    expect(page.locator(f'#users tr[data-email="{accounts["customer"].email}"]')).to_have_count(0)

    page.click("#tab-customers")
    expect(page.locator("#tab-customers")).to_have_attribute("aria-current", "page")
    page.fill("#staff-q", email.split("@")[0].upper())
    page.click(".staff-search button[type=submit]")
    expect(page.locator("#staff-count")).to_contain_text("1 account matching")
    expect(page.locator("#users tbody tr")).to_have_count(1)
    expect(row(page, email)).to_contain_text("Not confirmed")
    assert_fits(page)
    page.screenshot(path=str(screenshots / f"staff-customers-{width}.png"), full_page=True)

    row(page, email).get_by_role("button", name=f"Resend confirmation to {email}").click()
    expect(page.locator(".alert-ok")).to_contain_text(f"A new link was sent to {email}")
    expect(page.locator("#tab-customers")).to_have_attribute("aria-current", "page")
    wait_for_mail(accounts.mail_dir, email, count=2)


def test_a_manager_is_asked_before_changing_their_own_role_and_a_refused_change_stays_on_the_page(
    page: Page, accounts: Accounts, screenshots: Path
) -> None:
    page.set_viewport_size(DESKTOP)
    manager = accounts["senior_management"]
    sign_in_as(page, manager)
    page.goto("/staff")
    own = row(page, manager.email)
    own.locator("select[name=role]").select_option("technical_worker")
    own.get_by_role("button", name="Change").click()
    expect(page.locator("#confirm-change")).to_contain_text("your own account")
    page.screenshot(path=str(screenshots / "manager-own-role-confirm.png"), full_page=True)
    page.click("#confirm-no")
    expect(row(page, manager.email).locator("select[name=role]")).to_have_value("senior_management")

    worker = row(page, accounts["technical_worker"].email)
    worker.locator("select[name=role] option").first.evaluate("option => { option.value = 'emperor'; }")
    worker.locator("select[name=role]").select_option(index=0)
    worker.get_by_role("button", name="Change").click()
    page.click("#confirm-yes")
    expect(page.locator(".alert-error")).to_contain_text("was not changed")
    expect(page.locator("#new-account")).to_be_visible()
    expect(page.locator("#users")).to_be_visible()
    page.screenshot(path=str(screenshots / "manager-role-change-refused.png"), full_page=True)


def test_a_customer_whose_link_never_came_asks_for_it_again_from_the_sign_in_page(
    page: Page, accounts: Accounts, api: Api, screenshots: Path, width: int
) -> None:
    email = registered(api, accounts, "Lou Lost")

    page.goto("/login")
    page.click("#resend-link")
    expect(page.locator("h1")).to_have_text("Send the link again")
    page.fill("#email", email)
    page.click("#resend")
    expect(page.locator("h1")).to_have_text("Check your inbox")
    expect(page.locator("#check-inbox .alert-ok")).to_contain_text("a new link is on its way")
    assert_fits(page)
    page.screenshot(path=str(screenshots / f"customer-resend-{width}.png"), full_page=True)

    wait_for_mail(accounts.mail_dir, email, count=2)
    assert len(read_inbox(accounts.mail_dir, email)) == 2
