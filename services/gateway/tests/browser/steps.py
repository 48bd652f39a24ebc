"""What the browser tests do again and again as a person would (sign in, choose a password through
the mailed link, type a sale, invite someone from the staff page), and the two screen sizes every
page is checked at."""

from __future__ import annotations

from collections.abc import Mapping

from playwright.sync_api import Page, expect

from ..conftest import Account

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = {"1440": DESKTOP, "390": PHONE}


def sign_in(page: Page, email: str, password: str, next_page: str = "") -> None:
    """Send the sign-in form (to go on to `next_page` if given); the caller checks what came of it."""
    page.goto("/login" + (f"?next={next_page}" if next_page else ""))
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")


def sign_in_as(page: Page, account: Account, next_page: str = "") -> None:
    """Sign in, and wait until the page shows someone signed in."""
    sign_in(page, account.email, account.password, next_page)
    expect(page.locator("#logout")).to_be_visible()


def choose_password(page: Page, password: str, confirm: str | None = None) -> None:
    """On the page the mailed link opens: type the password, and again (`confirm`, if other), and send."""
    page.fill("#password", password)
    page.fill("#password_confirm", password if confirm is None else confirm)
    page.click("#set-password")


def send_invitation(page: Page, name: str, email: str, role: str) -> None:
    """On the staff page: send the form that invites `name` at `email` to an account with `role`."""
    page.fill("#new-account #name", name)
    page.fill("#new-account #email", email)
    page.select_option("#new-account #role", role)
    page.click("#create-account")


A_SALE = {
    "saleDate": "2031-01-15T09:30:00.000",
    "storeLocation": "London",
    "purchaseMethod": "Phone",
    "customer.gender": "M",
    "customer.age": "41",
    "customer.satisfaction": "5",
    "items.0.name": "binder",
    "items.0.tags": "school, general",
    "items.0.price": "12.25",
    "items.0.quantity": "2",
}
"""A valid sale as typed into the sale form, field by field: two binders at $12.25, $24.50 in all."""
CHOSEN = {"storeLocation", "purchaseMethod", "customer.gender", "customer.satisfaction"}


def type_sale(page: Page, buyer: str, changes: Mapping[str, str] | None = None) -> None:
    """Type `A_SALE` of `buyer` into the open sale form, with `changes` (by field name) over it."""
    for field, value in {**A_SALE, "customer.email": buyer, **(changes or {})}.items():
        if field in CHOSEN:
            page.select_option(f"[name='{field}']", value)
        else:
            page.fill(f"[name='{field}']", value)
