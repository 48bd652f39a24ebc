from __future__ import annotations

import jwt
import pytest

pytestmark = pytest.mark.integration

NEW = {"email": "new.worker@example.com", "password": "a sturdy passphrase", "name": "New Worker"}


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


def test_senior_management_creates_staff_of_any_role(harness):
    headers = harness.bearer(harness.create("senior_management"))

    response = harness.client.post("/users", json={**NEW, "role": "technical_worker"}, headers=headers)

    assert response.status_code == 201, response.text
    assert response.json()["role"] == "technical_worker"
    assert response.json()["disabled"] is False
    token = harness.login({"email": NEW["email"], "password": NEW["password"]})["access_token"]
    assert role_in(token) == "technical_worker"
    duplicate = harness.client.post("/users", json={**NEW, "role": "customer"}, headers=headers)
    assert duplicate.status_code == 409


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
    everyone = harness.client.get("/users", headers=headers).json()
    assert len(everyone["items"]) == 5
    assert everyone["next_cursor"] is None
    assert harness.client.get("/users", params={"limit": 0}, headers=headers).status_code == 422
    assert harness.client.get("/users", params={"limit": 101}, headers=headers).status_code == 422


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
