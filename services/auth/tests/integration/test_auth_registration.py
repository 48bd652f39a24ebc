from __future__ import annotations

import pytest

from supply_common.contract import Customer
from supply_common.testing.accounts import sign_up

pytestmark = pytest.mark.integration

GOOD = {"email": "ada@example.com", "name": "Ada Lovelace"}
PASSWORD = "analytical engine 1843"


def test_register_answers_202_and_the_mailed_link_sets_the_password_of_a_customer_with_a_normalised_email(harness):
    response = harness.client.post("/register", json={**GOOD, "email": "  Ada@Example.COM "})

    assert response.status_code == 202, response.text
    assert response.json() == {"detail": "Check your inbox: we sent a link to choose your password."}
    assert harness.choose_password(harness.token_mailed("ada@example.com"), PASSWORD).status_code == 200
    me = harness.client.get("/me", headers=harness.bearer({"email": "ADA@example.com", "password": PASSWORD}))
    body = me.json()
    assert body["email"] == "ada@example.com"
    assert body["role"] == "customer"
    assert body["name"] == "Ada Lovelace"
    assert set(body) == {"id", "email", "name", "role", "created_at"}


def test_an_email_registered_twice_in_any_case_keeps_one_account_and_reveals_nothing(harness):
    first = harness.client.post("/register", json=GOOD)
    second = harness.client.post("/register", json={**GOOD, "email": "ADA@EXAMPLE.com", "name": "Other"})

    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert "ada@example.com" not in second.text.lower()
    assert harness.user_count() == 1


@pytest.mark.parametrize(
    "extra",
    [
        {"role": "senior_management"},
        {"role": "customer"},
        {"is_admin": True},
        {"disabled": False},
        {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
        {"password": PASSWORD},
    ],
)
def test_registration_that_tries_to_set_a_role_password_or_unknown_field_is_refused_and_writes_nothing(harness, extra):
    response = harness.client.post("/register", json={**GOOD, **extra})

    assert response.status_code == 422
    field = next(iter(extra))
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert harness.user_count() == 0
    assert not list(harness.mail_dir.glob("*.eml"))


def test_a_password_at_registration_is_refused_with_where_to_choose_it(harness):
    response = harness.client.post("/register", json={**GOOD, "password": PASSWORD})

    [error] = response.json()["errors"]
    assert error["field"] == "password"
    assert "not taken at registration" in error["reason"]
    assert "/verify-email" in error["reason"]


@pytest.mark.parametrize(
    "email",
    ["a..b@example.com", '"q"@example.com', "<b>x</b>@example.com", "a<script>@example.com", "x@localhost"],
)
def test_addresses_the_sale_contract_refuses_are_refused_at_registration(harness, email):
    """An account's address is one a sale can name as its customer, or it could never see a purchase."""
    with pytest.raises(ValueError):
        Customer(gender="F", age=30, email=email, satisfaction=4)

    response = harness.client.post("/register", json={**GOOD, "email": email})

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["email"]
    assert harness.user_count() == 0


@pytest.mark.parametrize(
    ("password", "reason_part"),
    [
        ("short pass1", "at least 12"),
        ("x" * 100 + "y" * 29, "at most 128"),
        ("1qaz2wsx3edc", "common"),
        ("QWERTY123456", "common"),
        ("ada@example.com", "email"),
        ("aaaaaaaaaaaabbb", "repeated"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(harness, password, reason_part):
    assert harness.client.post("/register", json=GOOD).status_code == 202

    response = harness.choose_password(harness.token_mailed(GOOD["email"]), password)

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["password"]
    assert reason_part in errors[0]["reason"]
    assert harness.sql("SELECT password_hash FROM users") == [(None,)]


def test_passwords_of_12_and_128_characters_without_composition_rules_are_accepted(harness):
    for i, password in enumerate(["lowercaseonly", "é" * 60 + "zyxw" * 17]):
        sign_up(harness.client, harness.mail_dir, f"u{i}@example.com", password)
    assert harness.user_count() == 2


def test_argon2id_hashes_at_or_above_the_owasp_minimum_are_stored(harness):
    harness.register_confirmed(GOOD["email"], PASSWORD)

    [(stored,)] = harness.sql("SELECT password_hash FROM users")

    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in stored
