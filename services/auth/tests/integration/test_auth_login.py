from __future__ import annotations

import logging
import statistics
import time

import jwt
import pytest

pytestmark = pytest.mark.integration


def test_login_returns_a_token_pair_with_the_agreed_claims(harness):
    account = harness.create("technical_worker")

    body = harness.login(account)

    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "EdDSA"
    assert header["kid"] == harness.auth.keys.signer().kid
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert set(claims) == {"sub", "role", "email", "iss", "aud", "iat", "exp", "jti", "sid", "gen"}
    assert claims["sub"] == account["id"]
    assert claims["role"] == "technical_worker"
    assert claims["email"] == account["email"]
    assert claims["iss"] == "supply-store-auth"
    assert claims["aud"] == "supply-store"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["gen"] == 0
    assert harness.sql("SELECT user_id FROM refresh_families WHERE id = :sid", sid=claims["sid"])[0][0] == account["id"]


def test_login_email_is_case_and_space_insensitive(harness):
    account = harness.create(email="grace@example.com")

    assert harness.login({**account, "email": "  GRACE@example.COM"})["access_token"]


def test_unknown_email_and_wrong_password_get_the_same_answer(harness):
    account = harness.create()

    wrong = harness.client.post("/login", json={"email": account["email"], "password": "not the password"})
    unknown = harness.client.post("/login", json={"email": "nobody@example.com", "password": "not the password"})

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["content-type"] == unknown.headers["content-type"]
    assert "email or password" in wrong.json()["detail"]


def test_unknown_email_takes_as_long_as_a_wrong_password(harness):
    account = harness.create()

    def timed(email):
        started = time.perf_counter()
        assert harness.client.post("/login", json={"email": email, "password": "not the password"}).status_code == 401
        return time.perf_counter() - started

    timed(account["email"])
    # alternated, so that the machine's load at any moment weighs on both alike
    pairs = [(timed(account["email"]), timed(f"nobody{i}@example.com")) for i in range(11)]
    wrong = statistics.median(w for w, _ in pairs)
    unknown = statistics.median(u for _, u in pairs)

    hash_time = harness.hash_time_s()
    assert unknown > 0.8 * hash_time, (unknown, hash_time)
    assert abs(unknown - wrong) < 0.5 * wrong, (unknown, wrong)


def test_a_disabled_user_cannot_log_in_and_gets_the_generic_answer(harness):
    account = harness.create()
    harness.execute("UPDATE users SET disabled = 1 WHERE id = :id", id=account["id"])

    disabled = harness.client.post("/login", json={"email": account["email"], "password": account["password"]})
    unknown = harness.client.post("/login", json={"email": "nobody@example.com", "password": account["password"]})

    assert disabled.status_code == 401
    assert disabled.json() == unknown.json()


def test_a_hash_made_with_older_parameters_is_upgraded_at_login(harness):
    account = harness.create()
    [(old_hash,)] = harness.sql("SELECT password_hash FROM users WHERE id = :id", id=account["id"])
    assert ",t=2," in old_hash
    _, stronger = harness.instance(auth_argon2_time_cost=3, auth_argon2_memory_kib=20480)

    harness.login(account, client=stronger)

    [(new_hash,)] = harness.sql("SELECT password_hash FROM users WHERE id = :id", id=account["id"])
    assert new_hash.startswith("$argon2id$v=19$m=20480,t=3,p=1$")
    harness.login(account, client=stronger)
    harness.login(account)


def test_login_events_are_logged_without_secrets(harness, caplog):
    account = harness.create(email="logged@example.com", password="very secret words")
    caplog.set_level(logging.INFO, logger="supply_auth.events")

    harness.login(account)
    harness.client.post("/login", json={"email": account["email"], "password": "wrong secret words"})
    harness.client.post("/login", json={"email": "ghost@example.com", "password": "wrong secret words"})

    events = [r for r in caplog.records if getattr(r, "event", "").startswith("login.")]
    assert [r.event for r in events] == ["login.succeeded", "login.failed", "login.failed"]
    assert events[0].user_id == account["id"]
    assert [r.reason for r in events[1:]] == ["wrong_password", "unknown_email"]
    for record in events:
        text = repr(record.__dict__)
        assert "secret words" not in text
        assert "logged@example.com" not in text
        assert "ghost@example.com" not in text
