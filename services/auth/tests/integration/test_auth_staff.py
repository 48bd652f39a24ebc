from __future__ import annotations

import jwt
import pytest

from .conftest import DEFAULT_PASSWORD

pytestmark = pytest.mark.integration

NEW = {"email": "new.worker@example.com", "name": "New Worker"}
CHOSEN = "the worker's own passphrase"


def role_in(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["role"]


@pytest.mark.parametrize("role", ["customer", "technical_worker"])
def test_only_senior_management_manages_users(harness, role):
    headers = harness.bearer(harness.create(role))
    someone = harness.create()
    before = harness.user_count()

    assert harness.client.get("/users", headers=headers).status_code == 403
    assert harness.client.post("/users", json={**NEW, "role": "senior_management"}, headers=headers).status_code == 403
    assert (
        harness.client.patch(f"/users/{someone['id']}", json={"role": "senior_management"}, headers=headers).status_code
        == 403
    )

    assert harness.user_count() == before
    assert harness.sql("SELECT role FROM users WHERE id = :id", id=someone["id"])[0][0] == "customer"


def test_staff_routes_need_a_token(harness):
    assert harness.client.get("/users").status_code == 401
    assert harness.client.post("/users", json={**NEW, "role": "customer"}).status_code == 401
    assert harness.client.patch("/users/X", json={"disabled": True}).status_code == 401
    assert harness.client.get("/me").status_code == 401


def test_senior_management_invites_staff_who_choose_their_own_password(harness):
    headers = harness.bearer(harness.create("senior_management"))

    response = harness.client.post("/users", json={**NEW, "role": "technical_worker"}, headers=headers)

    assert response.status_code == 201, response.text
    invited = response.json()
    assert invited["role"] == "technical_worker"
    assert invited["disabled"] is False
    assert invited["email_confirmed"] is False
    assert invited["last_login_at"] is None
    assert harness.sql("SELECT password_hash FROM users WHERE id = :id", id=invited["id"]) == [(None,)]
    chosen = harness.choose_password(harness.token_mailed(NEW["email"]), CHOSEN)
    assert chosen.status_code == 200, chosen.text
    assert role_in(chosen.json()["access_token"]) == "technical_worker"
    token = harness.login({"email": NEW["email"], "password": CHOSEN})["access_token"]
    assert role_in(token) == "technical_worker"
    duplicate = harness.client.post("/users", json={**NEW, "role": "customer"}, headers=headers)
    assert duplicate.status_code == 409


def test_a_manager_cannot_type_the_password_of_an_invited_account(harness):
    headers = harness.bearer(harness.create("senior_management"))

    typed = harness.client.post(
        "/users", json={**NEW, "password": "the manager's idea", "role": "technical_worker"}, headers=headers
    )

    assert typed.status_code == 422
    assert [e["field"] for e in typed.json()["errors"]] == ["password"]
    assert harness.user_count() == 1


def test_users_are_listed_by_page_and_filtered_by_role(harness):
    admin = harness.create("senior_management")
    workers = [harness.create("technical_worker") for _ in range(3)]
    harness.create("customer")
    headers = harness.bearer(admin)

    first = harness.client.get("/users", params={"role": "technical_worker", "limit": 2}, headers=headers).json()
    second = harness.client.get(
        "/users", params={"role": "technical_worker", "limit": 2, "cursor": first["next_cursor"]}, headers=headers
    ).json()

    ids = [u["id"] for u in first["items"] + second["items"]]
    assert ids == [w["id"] for w in workers]
    assert second["next_cursor"] is None
    assert first["total"] == second["total"] == 3
    everyone = harness.client.get("/users", headers=headers).json()
    assert len(everyone["items"]) == 5
    assert everyone["next_cursor"] is None
    assert harness.client.get("/users", params={"limit": 0}, headers=headers).status_code == 422
    assert harness.client.get("/users", params={"limit": 101}, headers=headers).status_code == 422


def test_staff_and_customers_are_searched_sorted_and_show_confirmation_and_last_sign_in(harness):
    admin = harness.create("senior_management", email="boss@example.com")
    harness.create("technical_worker", email="zed.stone@example.com")
    harness.create("customer", email="amy.stone@example.com")
    harness.create("customer", email="bob.rock@example.com")
    harness.client.post("/register", json={"email": "cid.stone@example.com", "name": "Cid"})
    harness.login({"email": "bob.rock@example.com", "password": DEFAULT_PASSWORD})
    headers = harness.bearer(admin)

    def listed(**params):
        response = harness.client.get("/users", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    staff = listed(role=["technical_worker", "senior_management"], sort="-email")
    stones = listed(role="customer", q="  STONE ", sort="email")
    recent = listed(role="customer", sort="-last_login", limit=1)

    assert [u["email"] for u in staff["items"]] == ["zed.stone@example.com", "boss@example.com"]
    assert [(u["email"], u["email_confirmed"]) for u in stones["items"]] == [
        ("amy.stone@example.com", True),
        ("cid.stone@example.com", False),
    ]
    assert stones["total"] == 2
    assert recent["items"][0]["email"] == "bob.rock@example.com"
    assert recent["items"][0]["last_login_at"].endswith("Z") or "+00:00" in recent["items"][0]["last_login_at"]
    assert recent["next_offset"] == 1
    assert recent["total"] == 3
    assert listed(role="customer", q="100%_")["total"] == 0
    assert harness.client.get("/users", params={"sort": "password_hash"}, headers=headers).status_code == 422


def test_a_manager_mails_a_new_link_only_to_an_account_without_a_password(harness):
    admin = harness.create("senior_management")
    headers = harness.bearer(admin)
    invited = harness.client.post("/users", json={**NEW, "role": "technical_worker"}, headers=headers).json()
    first = harness.token_mailed(NEW["email"])

    resent = harness.client.post(f"/users/{invited['id']}/password-link", headers=headers)

    assert resent.status_code == 202, resent.text
    second = harness.token_mailed(NEW["email"], count=2)
    assert harness.choose_password(first, CHOSEN).status_code == 400
    assert harness.choose_password(second, CHOSEN).status_code == 200
    confirmed = harness.client.post(f"/users/{invited['id']}/password-link", headers=headers)
    assert confirmed.status_code == 409
    assert harness.client.post(f"/users/{'0' * 26}/password-link", headers=headers).status_code == 404
    worker = harness.bearer({"email": NEW["email"], "password": CHOSEN})
    assert harness.client.post(f"/users/{invited['id']}/password-link", headers=worker).status_code == 403


def test_a_role_change_applies_to_new_tokens_and_kills_refresh_tokens(harness):
    headers = harness.bearer(harness.create("senior_management"))
    account = harness.create("customer")
    before = harness.login(account)

    changed = harness.client.patch(f"/users/{account['id']}", json={"role": "technical_worker"}, headers=headers)

    assert changed.status_code == 200
    assert changed.json()["role"] == "technical_worker"
    assert harness.client.post("/refresh", json={"refresh_token": before["refresh_token"]}).status_code == 401
    after = harness.login(account)
    assert role_in(after["access_token"]) == "technical_worker"
    assert harness.client.get("/me", headers={"Authorization": f"Bearer {after['access_token']}"}).json()["role"] == (
        "technical_worker"
    )


def test_disabling_a_user_ends_their_logins(harness):
    headers = harness.bearer(harness.create("senior_management"))
    account = harness.create("technical_worker")
    pair = harness.login(account)

    response = harness.client.patch(f"/users/{account['id']}", json={"disabled": True}, headers=headers)

    assert response.json()["disabled"] is True
    assert harness.client.post("/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    assert (
        harness.client.post("/login", json={"email": account["email"], "password": account["password"]}).status_code
        == 401
    )
    assert harness.client.get("/me", headers={"Authorization": f"Bearer {pair['access_token']}"}).status_code == 401
    harness.client.patch(f"/users/{account['id']}", json={"disabled": False}, headers=headers)
    assert harness.login(account)["access_token"]


def test_the_last_active_senior_manager_cannot_be_demoted_or_disabled(harness):
    boss = harness.create("senior_management")
    headers = harness.bearer(boss)

    for change in ({"role": "customer"}, {"disabled": True}, {"role": "technical_worker", "disabled": True}):
        response = harness.client.patch(f"/users/{boss['id']}", json=change, headers=headers)
        assert response.status_code == 409, response.text
        assert "last active senior manager" in response.json()["detail"]
    assert harness.sql("SELECT role, disabled FROM users WHERE id = :id", id=boss["id"])[0] == ("senior_management", 0)


def test_with_two_senior_managers_one_may_go_but_not_both(harness):
    first, second = harness.create("senior_management"), harness.create("senior_management")
    headers = harness.bearer(first)
    disabled_manager = harness.create("senior_management")
    harness.execute("UPDATE users SET disabled = 1 WHERE id = :id", id=disabled_manager["id"])

    assert harness.client.patch(f"/users/{second['id']}", json={"role": "customer"}, headers=headers).status_code == 200
    assert harness.client.patch(f"/users/{first['id']}", json={"disabled": True}, headers=headers).status_code == 409


def test_a_demoted_manager_cannot_use_a_token_still_saying_senior_management(harness):
    first, second = harness.create("senior_management"), harness.create("senior_management")
    stale = harness.bearer(second)
    harness.client.patch(f"/users/{second['id']}", json={"role": "customer"}, headers=harness.bearer(first))

    assert harness.client.get("/users", headers=stale).status_code == 403
    assert harness.client.post("/users", json={**NEW, "role": "senior_management"}, headers=stale).status_code == 403


def test_patch_refuses_bad_changes_clearly(harness):
    headers = harness.bearer(harness.create("senior_management"))
    account = harness.create()

    assert (
        harness.client.patch("/users/01ARZ3NDEKTSV4RRFFQ69G5FAV", json={"disabled": True}, headers=headers).status_code
        == 404
    )
    assert harness.client.patch(f"/users/{account['id']}", json={}, headers=headers).status_code == 422
    assert harness.client.patch(f"/users/{account['id']}", json={"role": "admin"}, headers=headers).status_code == 422
    assert harness.client.patch(f"/users/{account['id']}", json={"disabled": "yes"}, headers=headers).status_code == 422
    assert (
        harness.client.patch(f"/users/{account['id']}", json={"email": "x@example.com"}, headers=headers).status_code
        == 422
    )
    assert harness.sql("SELECT role, disabled, email FROM users WHERE id = :id", id=account["id"])[0] == (
        "customer",
        0,
        account["email"],
    )
