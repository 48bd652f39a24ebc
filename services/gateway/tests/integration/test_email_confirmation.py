"""A customer's purchases are matched on their email, so only whoever reads that email's mail may
see them: registering someone's address opens nothing until its inbox confirms it."""

from __future__ import annotations

import secrets

import pytest

from supply_common.testing.mail import token_in, wait_for_mail

from ..conftest import Accounts, Api

pytestmark = pytest.mark.integration


def test_purchases_reach_only_whoever_confirmed_the_address(api: Api, accounts: Accounts) -> None:
    email = f"buyer.{secrets.token_hex(4)}@example.com"
    sale_id, version = api.create_sale(email, store="Austin", quantity=2)
    api.wait_projected(sale_id, version)
    squatter = {"email": email, "password": f"Sq-{secrets.token_urlsafe(12)}", "name": "Mallory"}
    owner = {"email": email, "password": f"Ow-{secrets.token_urlsafe(12)}", "name": "Real Buyer"}

    assert api.call("POST", "/api/auth/register", json=squatter).status_code == 202
    refused = api.call("POST", "/api/auth/login", json={"email": email, "password": squatter["password"]})
    assert refused.status_code == 403, refused.text
    assert refused.json()["title"] == "Email not confirmed"
    assert "access_token" not in refused.text

    assert api.call("POST", "/api/auth/register", json=owner).status_code == 202
    token = token_in(wait_for_mail(accounts.mail_dir, email, count=2))
    assert api.call("POST", "/api/auth/verify-email", json={"token": token}).status_code == 204

    squatter_login = api.call("POST", "/api/auth/login", json={"email": email, "password": squatter["password"]})
    assert squatter_login.status_code == 401
    signed_in = api.call("POST", "/api/auth/login", json={"email": email, "password": owner["password"]})
    assert signed_in.status_code == 200, signed_in.text
    mine = api.call("GET", "/api/me/sales", headers={"authorization": f"Bearer {signed_in.json()['access_token']}"})
    assert mine.status_code == 200, mine.text
    assert [sale["id"] for sale in mine.json()["items"]] == [sale_id]


def test_registering_a_customers_address_again_changes_nothing_and_tells_them(api: Api, accounts: Accounts) -> None:
    customer = accounts["customer"]
    attempt = {"email": customer.email, "password": f"At-{secrets.token_urlsafe(12)}", "name": "Mallory"}

    answer = api.call("POST", "/api/auth/register", json=attempt)
    fresh = api.call(
        "POST",
        "/api/auth/register",
        json={**attempt, "email": f"fresh.{secrets.token_hex(4)}@example.com"},
    )

    assert answer.status_code == fresh.status_code == 202
    assert answer.json() == fresh.json()
    notice = wait_for_mail(accounts.mail_dir, customer.email)
    assert "tried to register" in notice["Subject"]
    assert (
        api.call("POST", "/api/auth/login", json={"email": customer.email, "password": attempt["password"]}).status_code
        == 401
    )
    assert (
        api.call("POST", "/api/auth/login", json={"email": customer.email, "password": customer.password}).status_code
        == 200
    )


def test_a_made_up_token_is_one_clear_problem(api: Api) -> None:
    response = api.call("POST", "/api/auth/verify-email", json={"token": secrets.token_urlsafe(32)})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["token"]
