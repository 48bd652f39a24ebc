"""Registration proves the address: one answer whatever the address holds, and a mailed link that
lets whoever reads the address's mail choose the account's password, once. No password works before
that, so registering someone else's address gains nothing."""

from __future__ import annotations

import hashlib
import socket
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.engine import Engine

from supply_auth.adapters import migrate
from supply_auth.config import AuthSettings
from supply_common.db import make_engine
from supply_common.problems import PROBLEM_JSON
from supply_common.testing.mail import read_inbox, text_of, token_in, wait_for_mail

from .conftest import QUIET_THROTTLE, settings_for

pytestmark = pytest.mark.integration

NEW = {"email": "ada@example.com", "name": "Ada Lovelace"}
PASSWORD = "analytical engine 1843"
STRANGER = "mallory's own passphrase"


@contextmanager
def at_revision(settings: AuthSettings, revision: str) -> Iterator[Engine]:
    """The settings' database migrated to `revision` only, to hold rows as the code of that time wrote
    them; the engine is disposed of when the block ends."""
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine, revision)
        yield engine
    finally:
        engine.dispose()


def register(harness, **changes):
    return harness.client.post("/register", json={**NEW, **changes})


def login(harness, email, password):
    return harness.client.post("/login", json={"email": email, "password": password})


def me(harness, tokens):
    return harness.client.get("/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})


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
    """No branch hashes a password (registration takes none), and the answer waits out one floor
    (AUTH_REGISTER_ANSWER_S) whether or not the address had to be written: none stands out by its time."""
    confirmed = harness.register_confirmed("owner@example.com")

    def timed(email):
        started = time.perf_counter()
        assert register(harness, email=email).status_code == 202
        return time.perf_counter() - started

    timed("warm.up@example.com")
    new = statistics.median(timed(f"new{i}@example.com") for i in range(7))
    existing = statistics.median(timed(confirmed["email"]) for _ in range(7))

    floor = harness.auth.settings.auth_register_answer_s
    assert floor <= existing < floor + 0.5 * harness.hash_time_s() + 0.05, existing
    assert abs(new - existing) < 0.5 * max(new, existing) + 0.005, (new, existing)


def test_before_the_link_is_used_no_password_signs_in_and_the_answer_is_an_unknown_emails(make_harness):
    harness = make_harness(auth_account_slowdown_after=2, auth_account_lock_after=3)
    register(harness)

    guessed = login(harness, NEW["email"], PASSWORD)
    unknown = login(harness, "nobody@example.com", PASSWORD)

    assert guessed.status_code == unknown.status_code == 401
    assert guessed.headers["content-type"] == PROBLEM_JSON
    assert guessed.json() == unknown.json()
    assert "access_token" not in guessed.text
    # Every such attempt counts as a failure, as against any account.
    assert login(harness, NEW["email"], "another guess here").status_code == 401
    assert login(harness, NEW["email"], PASSWORD).status_code == 429


def test_the_link_sets_the_password_once_signs_in_and_the_password_then_works(harness):
    register(harness)
    token = harness.token_mailed(NEW["email"])

    first = harness.choose_password(token, PASSWORD)
    again = harness.choose_password(token, "a second passphrase")

    assert first.status_code == 200, first.text
    assert set(first.json()) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert me(harness, first.json()).json()["email"] == NEW["email"]
    assert again.status_code == 400
    assert again.headers["content-type"] == PROBLEM_JSON
    assert [e["field"] for e in again.json()["errors"]] == ["token"]
    tokens = login(harness, NEW["email"], PASSWORD)
    assert tokens.status_code == 200
    assert me(harness, tokens.json()).json()["name"] == NEW["name"]
    assert login(harness, NEW["email"], "a second passphrase").status_code == 401


def test_unknown_used_and_expired_tokens_get_one_and_the_same_problem(harness):
    register(harness)
    expired_token = harness.token_mailed(NEW["email"])
    harness.execute("UPDATE password_links SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND")
    register(harness, email="used@example.com")
    used_token = harness.token_mailed("used@example.com")
    assert harness.choose_password(used_token).status_code == 200

    answers = [harness.choose_password(t, PASSWORD) for t in (expired_token, used_token, "made-up-token-" + "x" * 30)]

    assert {a.status_code for a in answers} == {400}
    assert len({a.text.replace(a.json().get("instance", ""), "") for a in answers}) == 1
    assert login(harness, NEW["email"], PASSWORD).status_code == 401


def test_the_link_expires_after_the_configured_time(make_harness):
    harness = make_harness(auth_email_confirmation_ttl_s=3600)
    register(harness)

    [(lifetime,)] = harness.sql("SELECT TIMESTAMPDIFF(SECOND, created_at, expires_at) FROM password_links")
    assert lifetime == 3600
    assert "1 hour." in text_of(wait_for_mail(harness.mail_dir, NEW["email"]))


def test_tokens_have_256_random_bits_and_only_their_sha256_is_stored(harness):
    register(harness)
    token = harness.token_mailed(NEW["email"])

    [(stored,)] = harness.sql("SELECT token_hash FROM password_links")

    assert len(token) >= 43
    assert stored == hashlib.sha256(token.encode()).digest()
    dump = repr(harness.sql("SELECT * FROM password_links")) + repr(harness.sql("SELECT * FROM users"))
    assert token not in dump
    assert harness.sql("SELECT password_hash FROM users") == [(None,)]


def test_a_stranger_who_registers_an_address_never_signs_in_and_its_owner_does(harness):
    """The pre-hijack: a stranger registers a customer's address first, the owner presses the link in
    the mail that registration sent them. The stranger's password never works; the owner's does."""
    with_password = register(harness, name="Mallory", password=STRANGER)
    assert with_password.status_code == 422
    assert [e["field"] for e in with_password.json()["errors"]] == ["password"]
    assert harness.user_count() == 0

    assert register(harness, name="Mallory").status_code == 202
    assert login(harness, NEW["email"], STRANGER).status_code == 401
    mail = wait_for_mail(harness.mail_dir, NEW["email"])
    assert "choose your password" in text_of(mail).lower()

    chosen = harness.choose_password(token_in(mail), PASSWORD)

    assert chosen.status_code == 200, chosen.text
    assert me(harness, chosen.json()).json()["email"] == NEW["email"]
    assert login(harness, NEW["email"], STRANGER).status_code == 401
    assert login(harness, NEW["email"], PASSWORD).status_code == 200
    # Registering again now only tells the owner; the stranger still has no way in.
    assert register(harness, name="Mallory").status_code == 202
    assert "tried to" in wait_for_mail(harness.mail_dir, NEW["email"], count=2)["Subject"]
    assert login(harness, NEW["email"], STRANGER).status_code == 401
    assert harness.user_count() == 1


def test_registering_again_replaces_the_link_and_only_the_newest_sets_the_password(harness):
    assert register(harness, name="Mallory").status_code == 202
    first_token = harness.token_mailed(NEW["email"])

    assert register(harness).status_code == 202
    newest_token = harness.token_mailed(NEW["email"], count=2)

    assert harness.choose_password(first_token, STRANGER).status_code == 400
    chosen = harness.choose_password(newest_token, PASSWORD)
    assert chosen.status_code == 200
    assert login(harness, NEW["email"], STRANGER).status_code == 401
    assert me(harness, login(harness, NEW["email"], PASSWORD).json()).json()["name"] == "Ada Lovelace"
    assert harness.user_count() == 1


def test_a_password_the_policy_refuses_names_the_field_and_the_link_still_works(harness):
    register(harness)
    token = harness.token_mailed(NEW["email"])

    weak = harness.choose_password(token, "password1234")
    own_email = harness.choose_password(token, NEW["email"])

    assert weak.status_code == own_email.status_code == 422
    assert [e["field"] for e in weak.json()["errors"]] == ["password"]
    assert "common" in weak.json()["errors"][0]["reason"]
    assert "email" in own_email.json()["errors"][0]["reason"]
    assert harness.sql("SELECT password_hash, email_confirmed_at FROM users") == [(None, None)]
    assert harness.choose_password(token, PASSWORD).status_code == 200


def test_the_link_of_an_account_disabled_meanwhile_sets_nothing(harness):
    admin = harness.create("senior_management")
    register(harness)
    token = harness.token_mailed(NEW["email"])
    [(user_id,)] = harness.sql("SELECT id FROM users WHERE email = :email", email=NEW["email"])
    disabled = harness.client.patch(f"/users/{user_id}", json={"disabled": True}, headers=harness.bearer(admin))
    assert disabled.status_code == 200

    assert harness.choose_password(token, PASSWORD).status_code == 400
    assert login(harness, NEW["email"], PASSWORD).status_code == 401


def test_a_registration_for_a_confirmed_account_changes_nothing_and_tells_its_owner(harness):
    owner = harness.register_confirmed(NEW["email"], PASSWORD, "Ada Lovelace")
    before = harness.sql("SELECT id, name, password_hash, email_confirmed_at, updated_at FROM users")

    assert register(harness, name="Mallory").status_code == 202

    notice = wait_for_mail(harness.mail_dir, owner["email"], count=2)
    assert "tried to" in notice["Subject"]
    assert "verify-email" not in text_of(notice)
    assert harness.sql("SELECT id, name, password_hash, email_confirmed_at, updated_at FROM users") == before
    assert harness.sql("SELECT COUNT(*) FROM password_links")[0][0] == 0
    assert login(harness, owner["email"], STRANGER).status_code == 401
    assert login(harness, owner["email"], owner["password"]).status_code == 200


def test_an_invitation_takes_over_an_unconfirmed_registration_and_its_owner_chooses_the_password(harness):
    admin = harness.create("senior_management")
    register(harness, name="Mallory")
    squatter_token = harness.token_mailed(NEW["email"])

    made = harness.client.post(
        "/users", json={"email": NEW["email"], "name": "Ada", "role": "technical_worker"}, headers=harness.bearer(admin)
    )

    assert made.status_code == 201, made.text
    assert harness.choose_password(squatter_token, STRANGER).status_code == 400
    assert login(harness, NEW["email"], STRANGER).status_code == 401
    assert harness.choose_password(harness.token_mailed(NEW["email"], count=2), PASSWORD).status_code == 200
    assert login(harness, NEW["email"], PASSWORD).status_code == 200
    assert harness.user_count() == 2
    again = harness.client.post(
        "/users", json={"email": NEW["email"], "name": "Ada", "role": "customer"}, headers=harness.bearer(admin)
    )
    assert again.status_code == 409


def test_a_resent_confirmation_mails_a_new_link_and_answers_like_any_other(harness):
    register(harness)
    first = harness.token_mailed(NEW["email"])
    confirmed = harness.register_confirmed("known@example.com")

    answers = [
        harness.client.post("/resend-confirmation", json={"email": email})
        for email in (NEW["email"].upper(), "nobody@example.com", confirmed["email"])
    ]

    assert {a.status_code for a in answers} == {202}
    assert len({a.text for a in answers}) == 1
    assert harness.choose_password(first, PASSWORD).status_code == 400
    assert harness.choose_password(harness.token_mailed(NEW["email"], count=2), PASSWORD).status_code == 200
    assert len(read_inbox(harness.mail_dir, confirmed["email"])) == 1, "a confirmed owner gets nothing"
    bad = harness.client.post("/resend-confirmation", json={"email": "not an address"})
    assert bad.status_code == 422


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
    assert [getattr(r, "kind", None) for r in failures] == ["password_link"]
    assert not read_inbox(harness.mail_dir, NEW["email"])


def test_the_migration_confirms_the_accounts_that_existed_before(mysql_url, fresh_mysql_database, tmp_path):
    database = fresh_mysql_database("auth")
    settings = settings_for(mysql_url, database, tmp_path / "keys", auth_mail_dir=tmp_path / "mail")
    with at_revision(settings, "0001") as engine:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at) VALUES "
                "('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'old@example.com', 'Old', 'customer', 'x',"
                " '2024-01-02 03:04:05', '2024-01-02 03:04:05')"
            )
        migrate.upgrade(engine)
        with engine.connect() as connection:
            confirmed = connection.exec_driver_sql("SELECT email_confirmed_at FROM users").scalar_one()
    assert str(confirmed) == "2024-01-02 03:04:05"


def test_every_token_in_the_mail_drop_is_a_link_to_the_gateway_page(harness):
    register(harness)

    message = wait_for_mail(harness.mail_dir, NEW["email"])

    assert f"http://127.0.0.1:8000/verify-email?token={token_in(message)}" in text_of(message)


def test_registrations_of_one_address_at_the_same_moment_make_one_account_with_one_working_link(make_harness):
    harness = make_harness(mysql_pool_size=8)
    attempts = 6

    statuses = harness.at_once(
        attempts, lambda client, i: client.post("/register", json={**NEW, "name": f"Registrant {i}"})
    ).join()

    assert statuses == [202] * attempts
    assert harness.user_count() == 1
    wait_for_mail(harness.mail_dir, NEW["email"], count=attempts)
    tokens = [token_in(message) for message in read_inbox(harness.mail_dir, NEW["email"])]
    assert sorted(harness.choose_password(token).status_code for token in tokens) == [200] + [400] * (attempts - 1)


def test_after_the_migration_a_pending_registrations_password_never_works_and_its_link_sets_one(
    mysql_url, fresh_mysql_database, tmp_path, make_harness
):
    """An account registered (with a password) before passwords were set through the link: the
    migration takes that password away, and the link mailed back then lets the owner choose one."""
    database = fresh_mysql_database("auth")
    settings = settings_for(mysql_url, database, tmp_path / "keys", auth_mail_dir=tmp_path / "mail")
    harness = make_harness()
    stranger_hash = harness.auth.hasher.hash(STRANGER)
    token = "link-mailed-before-the-migration-" + "t" * 20
    with at_revision(settings, "0002") as engine:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at) VALUES "
                "('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'ada@example.com', 'Mallory', 'customer', %s,"
                " UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
                (stranger_hash,),
            )
            connection.exec_driver_sql(
                "INSERT INTO email_confirmations (user_id, token_hash, created_at, expires_at) VALUES "
                "('01ARZ3NDEKTSV4RRFFQ69G5FAV', %s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL 1 HOUR)",
                (hashlib.sha256(token.encode()).digest(),),
            )
        migrate.upgrade(engine)
    _, client = harness.instance(mysql_database=database, **QUIET_THROTTLE)

    assert client.post("/login", json={"email": NEW["email"], "password": STRANGER}).status_code == 401
    chosen = client.post("/verify-email", json={"token": token, "password": PASSWORD})
    assert chosen.status_code == 200, chosen.text
    assert client.post("/login", json={"email": NEW["email"], "password": STRANGER}).status_code == 401
    assert client.post("/login", json={"email": NEW["email"], "password": PASSWORD}).status_code == 200
