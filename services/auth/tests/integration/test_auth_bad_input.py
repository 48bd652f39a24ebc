"""Malformed, oversized and hostile bodies get clear 4xx answers and change nothing."""

from __future__ import annotations

import pytest

from supply_common.problems import PROBLEM_JSON

pytestmark = pytest.mark.integration

GOOD = {"email": "ada@example.com", "name": "Ada Lovelace"}
PASSWORD = "analytical engine 1843"
SQL = [
    "' OR '1'='1",
    "x'); DROP TABLE users; --",
    '" OR ""="',
    "1; DELETE FROM users WHERE 1=1 #",
    "\\'; SELECT SLEEP(5); -- ",
    "%' UNION SELECT password_hash FROM users -- ",
]


def assert_problem(response, status, field=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "A"}, "email"),
        ({**GOOD, "password": PASSWORD}, "password"),
        ({"email": GOOD["email"]}, "name"),
        ({**GOOD, "email": 42}, "email"),
        ({**GOOD, "email": ["ada@example.com"]}, "email"),
        ({**GOOD, "email": {"$ne": ""}}, "email"),
        ({**GOOD, "password": ""}, "password"),
        ({**GOOD, "password": 123456789012345}, "password"),
        ({**GOOD, "name": True}, "name"),
        ({**GOOD, "name": {"$gt": ""}}, "name"),
        ({**GOOD, "email": "not-an-email"}, "email"),
        ({**GOOD, "email": "a@b"}, "email"),
        ({**GOOD, "name": "   "}, "name"),
        ({**GOOD, "name": "bell\x07"}, "name"),
        ({**GOOD, "name": "n" * 101}, "name"),
    ],
)
def test_register_with_missing_or_wrong_fields_names_the_field_and_writes_nothing(harness, body, field):
    assert_problem(harness.client.post("/register", json=body), 422, field)
    assert harness.user_count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": PASSWORD}, "token"),
        ({"token": 42, "password": PASSWORD}, "token"),
        ({"token": "", "password": PASSWORD}, "token"),
        ({"token": "t" * 257, "password": PASSWORD}, "token"),
        ({"token": {"$ne": ""}, "password": PASSWORD}, "token"),
        ({"token": "abc"}, "password"),
        ({"token": "abc", "password": None}, "password"),
        ({"token": "abc", "password": ["x"]}, "password"),
        ({"token": "abc", "password": PASSWORD, "email": "ada@example.com"}, "email"),
    ],
)
def test_verify_email_with_missing_or_wrong_fields_names_the_field(harness, body, field):
    assert_problem(harness.client.post("/verify-email", json=body), 422, field)


@pytest.mark.parametrize("path", ["/register", "/login", "/refresh", "/verify-email"])
@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/json"),
        (b"{not json", "application/json"),
        (b"[]", "application/json"),
        (b'"just a string"', "application/json"),
        (b'{"email": "\xff\xfe@example.com", "name": "A"}', "application/json"),
        (b"\xc3\x28\xa0\xa1", "application/json"),
        (b"email=ada@example.com", "application/x-www-form-urlencoded"),
    ],
)
def test_unparseable_bodies_get_4xx_and_write_nothing(harness, path, content, content_type):
    response = harness.client.post(path, content=content, headers={"content-type": content_type})

    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert harness.user_count() == 0


@pytest.mark.parametrize("path", ["/register", "/login", "/refresh", "/users"])
def test_a_10_mb_body_gets_413(harness, path):
    big = b'{"email": "' + b"a" * (10 * 1024 * 1024) + b'@example.com"}'

    assert_problem(harness.client.post(path, content=big, headers={"content-type": "application/json"}), 413)
    assert harness.user_count() == 0


def test_a_10_mb_body_without_content_length_gets_413(harness):
    def chunks():
        yield b'{"email": "'
        for _ in range(10):
            yield b"a" * (1024 * 1024)
        yield b'"}'

    response = harness.client.post("/register", content=chunks(), headers={"content-type": "application/json"})

    assert_problem(response, 413)
    assert harness.user_count() == 0


@pytest.mark.parametrize("payload", SQL)
def test_sql_metacharacters_in_register_fields_are_stored_verbatim_or_refused(harness, payload):
    password = payload + " padding to twelve"
    bodies = [
        {"email": GOOD["email"], "name": payload},
        {"email": payload, "name": "Mallory"},
        {"email": f"{payload}@example.com".replace(" ", ""), "name": "Mallory"},
    ]
    accepted: set[str] = set()
    for body in bodies:
        response = harness.client.post("/register", json=body)
        assert response.status_code in (202, 422), response.text
        if response.status_code == 202:
            email = body["email"].strip().lower()
            accepted.add(email)
            assert harness.choose_password(harness.token_mailed(email), password).status_code == 200
            login = harness.client.post("/login", json={"email": body["email"], "password": password})
            assert login.status_code == 200
            me = harness.client.get("/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
            assert me.json()["name"] == body["name"].strip()
            assert me.json()["email"] == email
    assert harness.user_count() == len(accepted)
    assert {row[0] for row in harness.sql("SHOW TABLES")} >= {"users", "refresh_tokens", "login_attempts"}


@pytest.mark.parametrize("payload", SQL)
def test_sql_metacharacters_in_login_refresh_and_staff_fields_change_nothing(harness, payload):
    admin = harness.create("senior_management")
    headers = harness.bearer(admin)
    before = harness.user_count()

    login = harness.client.post("/login", json={"email": payload, "password": payload})
    assert login.status_code == 401
    assert harness.client.post("/login", json={"email": admin["email"], "password": payload}).status_code == 401
    assert harness.client.post("/refresh", json={"refresh_token": payload}).status_code == 401
    assert harness.client.post("/logout", json={"refresh_token": payload}, headers=headers).status_code == 204
    staff = harness.client.post(
        "/users",
        json={"email": "x@example.com", "password": "a sturdy passphrase", "name": "X", "role": payload},
        headers=headers,
    )
    assert_problem(staff, 422, "role")
    assert harness.client.patch(f"/users/{admin['id']}", json={"role": payload}, headers=headers).status_code == 422
    assert harness.client.patch(f"/users/{payload}", json={"disabled": True}, headers=headers).status_code in (404, 405)
    assert harness.client.get("/users", params={"role": payload}, headers=headers).status_code == 422
    assert harness.client.get("/users", params={"cursor": payload}, headers=headers).status_code == 422

    assert harness.user_count() == before
    assert harness.sql("SELECT role, disabled FROM users WHERE id = :id", id=admin["id"])[0] == ("senior_management", 0)
    assert harness.client.get("/me", headers=headers).status_code == 200
