"""A customer's purchases are matched on their email, so only whoever reads that email's mail may
see them: registering someone's address opens nothing, and the account's password is chosen only
through the link mailed to it."""

from __future__ import annotations

import secrets

import pytest

from supply_common.testing.accounts import choose_password, register
from supply_common.testing.mail import token_in, wait_for_mail

from ..conftest import Accounts, Api

pytestmark = pytest.mark.integration


def test_purchases_reach_only_whoever_chose_the_password_from_the_mailed_link(api: Api, accounts: Accounts) -> None:
    email = f"buyer.{secrets.token_hex(4)}@example.com"
    sale_id, version = api.create_sale(email, store="Austin", quantity=2)
    api.wait_projected(sale_id, version)
    stranger_password = f"Sq-{secrets.token_urlsafe(12)}"
    owner_password = f"Ow-{secrets.token_urlsafe(12)}"

    with_password = api.call(
        "POST", "/api/auth/register", json={"email": email, "name": "Mallory", "password": stranger_password}
    )
    assert with_password.status_code == 422
    register(api.client, email, name="Mallory", prefix="/api/auth")
    refused = api.call("POST", "/api/auth/login", json={"email": email, "password": stranger_password})
    assert refused.status_code == 401, refused.text
    assert "access_token" not in refused.text

    token = token_in(wait_for_mail(accounts.mail_dir, email))
    chosen = choose_password(api.client, token, owner_password, prefix="/api/auth")
    assert chosen.status_code == 200, chosen.text

    stranger_login = api.call("POST", "/api/auth/login", json={"email": email, "password": stranger_password})
    assert stranger_login.status_code == 401
    signed_in = api.call("POST", "/api/auth/login", json={"email": email, "password": owner_password})
    assert signed_in.status_code == 200, signed_in.text
    for tokens in (chosen.json(), signed_in.json()):
        mine = api.call("GET", "/api/me/sales", headers={"authorization": f"Bearer {tokens['access_token']}"})
        assert mine.status_code == 200, mine.text
        assert [sale["id"] for sale in mine.json()["items"]] == [sale_id]


def test_registering_a_customers_address_again_changes_nothing_and_tells_them(api: Api, accounts: Accounts) -> None:
    customer = accounts["customer"]
    attempt = {"email": customer.email, "name": "Mallory"}

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
        api.call(
            "POST", "/api/auth/login", json={"email": customer.email, "password": f"At-{secrets.token_urlsafe(12)}"}
        ).status_code
        == 401
    )
    assert (
        api.call("POST", "/api/auth/login", json={"email": customer.email, "password": customer.password}).status_code
        == 200
    )


def test_a_made_up_token_is_one_clear_problem(api: Api) -> None:
    response = api.call(
        "POST", "/api/auth/verify-email", json={"token": secrets.token_urlsafe(32), "password": "a sturdy passphrase"}
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["token"]
