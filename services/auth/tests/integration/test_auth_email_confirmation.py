"""Registration proves the address: one answer whatever the address holds, a mailed link that
confirms it once, no tokens before that, and nothing gained by registering someone else's address."""

from __future__ import annotations

import hashlib
import socket
import statistics
import threading
import time

import pytest
from fastapi.testclient import TestClient

from supply_auth.adapters import migrate
from supply_common.db import make_engine
from supply_common.problems import PROBLEM_JSON
from supply_common.testing.mail import read_inbox, text_of, token_in, wait_for_mail

from .conftest import settings_for

pytestmark = pytest.mark.integration

NEW = {"email": "ada@example.com", "password": "analytical engine 1843", "name": "Ada Lovelace"}


def register(harness, **changes):
    return harness.client.post("/register", json={**NEW, **changes})


def login(harness, email, password):
    return harness.client.post("/login", json={"email": email, "password": password})


def test_new_unconfirmed_and_confirmed_emails_get_the_same_answer(harness):
    confirmed = harness.register_confirmed("owner@example.com")
    assert register(harness, email="pending@example.com").status_code == 202

    answers = [
        register(harness, email="fresh@example.com"),
        register(harness, email="pending@example.com", name="Someone else"),
        register(harness, email=confirmed["email"], name="Someone else"),
    ]

    assert {a.status_code for a in answers} == {202}
    assert len({a.text for a in answers}) == 1
    assert {a.headers["content-type"] for a in answers} == {"application/json"}


def test_new_and_confirmed_emails_cost_the_same_time_to_register(harness):
    confirmed = harness.register_confirmed("owner@example.com")

    def timed(email):
        started = time.perf_counter()
        assert register(harness, email=email).status_code == 202
        return time.perf_counter() - started

    timed("warm.up@example.com")
    new = statistics.median(timed(f"new{i}@example.com") for i in range(7))
    existing = statistics.median(timed(confirmed["email"]) for _ in range(7))

    hash_time = harness.hash_time_s()
    assert existing > 0.8 * hash_time, (existing, hash_time)
    assert abs(new - existing) < 0.5 * new, (new, existing)


def test_login_before_confirmation_is_refused_with_its_own_problem_and_gives_no_token(make_harness):
    harness = make_harness(auth_account_slowdown_after=2, auth_account_lock_after=3)
    register(harness)

    refused = login(harness, NEW["email"], NEW["password"])
    wrong = login(harness, NEW["email"], "not the password")
    unknown = login(harness, "nobody@example.com", "not the password")

    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert refused.json()["title"] == "Email not confirmed"
    assert "registering again" in refused.json()["detail"].lower()
    assert "access_token" not in refused.text
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    # The wrong password counted as a failure; the right one did not.
    assert login(harness, NEW["email"], "not the password either").status_code == 401
    assert login(harness, NEW["email"], NEW["password"]).status_code == 429


def test_the_link_confirms_once_and_then_the_customer_can_log_in(harness):
    register(harness)
    token = harness.token_mailed(NEW["email"])

    first = harness.verify(token)
    again = harness.verify(token)

    assert first.status_code == 204
    assert again.status_code == 400
    assert again.headers["content-type"] == PROBLEM_JSON
    assert [e["field"] for e in again.json()["errors"]] == ["token"]
    tokens = login(harness, NEW["email"], NEW["password"])
    assert tokens.status_code == 200
    me = harness.client.get("/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})
    assert me.json()["email"] == NEW["email"]


def test_unknown_used_and_expired_tokens_get_one_and_the_same_problem(harness):
    register(harness)
    expired_token = harness.token_mailed(NEW["email"])
    harness.execute("UPDATE email_confirmations SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND")
    register(harness, email="used@example.com")
    used_token = harness.token_mailed("used@example.com")
    assert harness.verify(used_token).status_code == 204

    answers = [harness.verify(t) for t in (expired_token, used_token, "made-up-token-" + "x" * 30)]

    assert {a.status_code for a in answers} == {400}
    assert len({a.text.replace(a.json().get("instance", ""), "") for a in answers}) == 1
    assert login(harness, NEW["email"], NEW["password"]).status_code == 403


def test_the_link_expires_after_the_configured_time(make_harness):
    harness = make_harness(auth_email_confirmation_ttl_s=3600)
    register(harness)

    [(lifetime,)] = harness.sql("SELECT TIMESTAMPDIFF(SECOND, created_at, expires_at) FROM email_confirmations")
    assert lifetime == 3600
    assert "1 hour." in text_of(wait_for_mail(harness.mail_dir, NEW["email"]))


def test_tokens_have_256_random_bits_and_only_their_sha256_is_stored(harness):
    register(harness)
    token = harness.token_mailed(NEW["email"])

    [(stored,)] = harness.sql("SELECT token_hash FROM email_confirmations")

    assert len(token) >= 43
    assert stored == hashlib.sha256(token.encode()).digest()
    dump = repr(harness.sql("SELECT * FROM email_confirmations")) + repr(harness.sql("SELECT * FROM users"))
    assert token not in dump


def test_registering_someone_elses_unconfirmed_email_gains_nothing(harness):
    """A squatter registers first; the owner registers afterwards and confirms from their inbox."""
    assert register(harness, password="squatter's own passphrase", name="Mallory").status_code == 202
    squatter_token = harness.token_mailed(NEW["email"])

    assert register(harness).status_code == 202
    owner_token = harness.token_mailed(NEW["email"], count=2)

    assert harness.verify(squatter_token).status_code == 400
    assert harness.verify(owner_token).status_code == 204
    assert login(harness, NEW["email"], "squatter's own passphrase").status_code == 401
    owner = login(harness, NEW["email"], NEW["password"])
    assert owner.status_code == 200
    me = harness.client.get("/me", headers={"Authorization": f"Bearer {owner.json()['access_token']}"})
    assert me.json()["name"] == "Ada Lovelace"
    assert harness.user_count() == 1


def test_a_registration_for_a_confirmed_account_changes_nothing_and_tells_its_owner(harness):
    owner = harness.register_confirmed(NEW["email"], NEW["password"], "Ada Lovelace")
    before = harness.sql("SELECT id, name, password_hash, email_confirmed_at, updated_at FROM users")

    assert register(harness, password="attacker's passphrase", name="Mallory").status_code == 202

    notice = wait_for_mail(harness.mail_dir, owner["email"], count=2)
    assert "tried to" in notice["Subject"]
    assert "verify-email" not in text_of(notice)
    assert harness.sql("SELECT id, name, password_hash, email_confirmed_at, updated_at FROM users") == before
    assert harness.sql("SELECT COUNT(*) FROM email_confirmations")[0][0] == 0
    assert login(harness, owner["email"], "attacker's passphrase").status_code == 401
    assert login(harness, owner["email"], owner["password"]).status_code == 200


def test_staff_and_command_line_accounts_are_confirmed_and_take_over_an_unconfirmed_registration(harness):
    admin = harness.create("senior_management")
    register(harness, password="squatter's own passphrase")
    squatter_token = harness.token_mailed(NEW["email"])

    made = harness.client.post(
        "/users",
        json={"email": NEW["email"], "password": "staff chosen passphrase", "name": "Ada", "role": "technical_worker"},
        headers=harness.bearer(admin),
    )

    assert made.status_code == 201, made.text
    assert harness.verify(squatter_token).status_code == 400
    assert login(harness, NEW["email"], "squatter's own passphrase").status_code == 401
    assert login(harness, NEW["email"], "staff chosen passphrase").status_code == 200
    assert harness.user_count() == 2
    again = harness.client.post(
        "/users",
        json={"email": NEW["email"], "password": "staff chosen passphrase", "name": "Ada", "role": "customer"},
        headers=harness.bearer(admin),
    )
    assert again.status_code == 409


def test_registration_answers_at_once_while_the_mail_server_does_not(make_harness, caplog):
    """A mail server that accepts the connection and never speaks: the answer does not wait for it."""
    silent = socket.create_server(("127.0.0.1", 0))
    harness = make_harness(auth_smtp_url=f"smtp://127.0.0.1:{silent.getsockname()[1]}")
    try:
        started = time.perf_counter()
        response = register(harness)
        took = time.perf_counter() - started
        assert response.status_code == 202
        assert took < 2, took
    finally:
        silent.close()
    harness.auth.mail.close()
    failures = [r for r in caplog.records if getattr(r, "event", "") == "mail.failed"]
    assert [getattr(r, "kind", None) for r in failures] == ["confirmation"]
    assert not read_inbox(harness.mail_dir, NEW["email"])


def test_the_migration_confirms_the_accounts_that_existed_before(mysql_url, fresh_mysql_database, tmp_path):
    database = fresh_mysql_database("auth")
    settings = settings_for(mysql_url, database, tmp_path / "keys", auth_mail_dir=tmp_path / "mail")
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine, "0001")
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at) VALUES "
                "('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'old@example.com', 'Old', 'customer', 'x',"
                " '2024-01-02 03:04:05', '2024-01-02 03:04:05')"
            )
        migrate.upgrade(engine)
        with engine.connect() as connection:
            confirmed = connection.exec_driver_sql("SELECT email_confirmed_at FROM users").scalar_one()
    finally:
        engine.dispose()
    assert str(confirmed) == "2024-01-02 03:04:05"


def test_every_token_in_the_mail_drop_is_a_link_to_the_gateway_page(harness):
    register(harness)

    message = wait_for_mail(harness.mail_dir, NEW["email"])

    assert f"http://127.0.0.1:8000/verify-email?token={token_in(message)}" in text_of(message)


def test_registrations_of_one_address_at_the_same_moment_make_one_account_with_one_working_link(make_harness):
    harness = make_harness(mysql_pool_size=8)
    attempts = 6
    start = threading.Barrier(attempts)
    statuses: list[int] = []

    def attempt(i: int) -> None:
        client = TestClient(harness.client.app)
        start.wait()
        statuses.append(client.post("/register", json={**NEW, "password": f"passphrase number {i}"}).status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert statuses == [202] * attempts
    assert harness.user_count() == 1
    wait_for_mail(harness.mail_dir, NEW["email"], count=attempts)
    tokens = [token_in(message) for message in read_inbox(harness.mail_dir, NEW["email"])]
    assert sorted(harness.verify(token).status_code for token in tokens) == [204] + [400] * (attempts - 1)
