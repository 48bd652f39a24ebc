from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

FAST = {
    "auth_throttle_window_s": 60,
    "auth_account_address_slowdown_after": 2,
    "auth_account_address_lock_after": 3,
    "auth_account_slowdown_after": 1000,
    "auth_account_lock_after": 1000,
    "auth_address_slowdown_after": 1000,
    "auth_address_lock_after": 1000,
    "auth_slowdown_base_s": 1,
    "auth_lock_base_s": 2,
    "auth_lock_max_s": 2,
}


def per_address(slowdown_after: int, lock_after: int, **settings: object) -> dict[str, object]:
    """FAST, with these limits for each client address and the account-wide ones out of reach."""
    return {
        **FAST,
        "auth_account_slowdown_after": 100,
        "auth_account_lock_after": 100,
        "auth_address_slowdown_after": slowdown_after,
        "auth_address_lock_after": lock_after,
        **settings,
    }


def attempt(client, email, password, **headers):
    return client.post("/login", json={"email": email, "password": password}, headers=headers)


def wait_out(response):
    time.sleep(int(response.headers["Retry-After"]) + 0.1)


def test_failures_slow_down_then_lock_the_account_at_that_address_and_the_lock_expires(make_harness):
    harness = make_harness(**FAST)
    account = harness.create()
    email, good = account["email"], account["password"]

    assert attempt(harness.client, email, "wrong password 1").status_code == 401
    assert attempt(harness.client, email, "wrong password 2").status_code == 401
    slowed = attempt(harness.client, email, good)
    assert slowed.status_code == 429
    assert slowed.headers["Retry-After"] == "1"
    assert slowed.headers["content-type"] == "application/problem+json"
    wait_out(slowed)

    assert attempt(harness.client, email, "wrong password 3").status_code == 401
    locked = attempt(harness.client, email, good)
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 2
    assert attempt(harness.client, email, good).status_code == 429
    wait_out(locked)

    assert attempt(harness.client, email, good).status_code == 200
    assert attempt(harness.client, email, "wrong password 4").status_code == 401
    assert attempt(harness.client, email, good).status_code == 200


def test_unknown_accounts_are_throttled_exactly_like_real_ones(make_harness):
    harness = make_harness(**FAST)
    account = harness.create()

    answers = {}
    for email in (account["email"], "nobody@example.com"):
        answers[email] = [attempt(harness.client, email, "wrong password x") for _ in range(3)]

    real, ghost = answers.values()
    assert [r.status_code for r in real] == [r.status_code for r in ghost] == [401, 401, 429]
    assert real[2].json() == ghost[2].json()


def test_the_lock_is_shared_by_every_auth_process(make_harness):
    harness = make_harness(**FAST)
    account = harness.create()
    _, other_process = harness.instance(**FAST)

    attempt(harness.client, account["email"], "wrong password 1")
    attempt(other_process, account["email"], "wrong password 2")

    assert attempt(harness.client, account["email"], account["password"]).status_code == 429
    assert attempt(other_process, account["email"], account["password"]).status_code == 429


def test_one_client_address_spraying_many_accounts_is_locked_without_locking_others(make_harness):
    harness = make_harness(**per_address(3, 3, auth_trusted_proxies=("testclient",)))
    victim = harness.create()
    attacker = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}

    for i in range(3):
        assert attempt(harness.client, f"user{i}@example.com", "guess guess guess", **attacker).status_code == 401

    assert attempt(harness.client, "fresh@example.com", "guess guess guess", **attacker).status_code == 429
    spoofed = {"X-Forwarded-For": "203.0.113.9, 192.0.2.1"}
    assert attempt(harness.client, victim["email"], victim["password"], **spoofed).status_code == 200


def test_a_client_that_is_not_a_trusted_proxy_cannot_choose_its_address(make_harness):
    harness = make_harness(**per_address(2, 2))

    for i in range(2):
        forwarded = {"X-Forwarded-For": f"192.0.2.{i}"}
        assert attempt(harness.client, f"user{i}@example.com", "guess guess guess", **forwarded).status_code == 401

    assert attempt(harness.client, "other@example.com", "guess guess guess").status_code == 429


def test_failure_counters_live_in_mysql_without_raw_emails(make_harness):
    harness = make_harness(**FAST)

    attempt(harness.client, "counted@example.com", "wrong password 1")

    rows = harness.sql("SELECT subject, failures FROM login_attempts")
    assert len(rows) == 3  # the account at this address, the account, the address
    assert all(len(subject) == 32 and b"counted" not in subject for subject, _ in rows)


def test_concurrent_guesses_cannot_outrun_the_lock(make_harness, monkeypatch):
    """Forty wrong passwords at once, each from another address: only as many reach the password
    check as the lock allows, and the right password sent while they are in flight is refused."""
    lock_after = 5
    harness = make_harness(
        **{
            **FAST,
            "auth_account_slowdown_after": lock_after,
            "auth_account_lock_after": lock_after,
            "auth_account_address_slowdown_after": 100,
            "auth_account_address_lock_after": 100,
            "auth_lock_base_s": 60,
            "auth_lock_max_s": 60,
            "auth_trusted_proxies": ("testclient",),
            "mysql_pool_size": 10,
        }
    )
    account = harness.create()
    checked: list[str] = []
    threshold_reached = threading.Event()
    verify = harness.auth.hasher.verify

    def counting_verify(password, stored):
        checked.append(password)
        if len(checked) >= lock_after:
            threshold_reached.set()
        return verify(password, stored)

    monkeypatch.setattr(harness.auth.hasher, "verify", counting_verify)
    guesses = 40
    start = threading.Barrier(guesses)
    statuses: list[int] = []

    def guess(i: int) -> None:
        client = TestClient(harness.client.app)
        start.wait()
        response = attempt(client, account["email"], f"wrong password {i}", **{"X-Forwarded-For": f"192.0.2.{i}"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(guesses)]
    for thread in threads:
        thread.start()
    assert threshold_reached.wait(30)
    right = attempt(harness.client, account["email"], account["password"], **{"X-Forwarded-For": "198.51.100.1"})
    for thread in threads:
        thread.join(60)

    assert right.status_code == 429, right.text
    counts = Counter(statuses)
    assert set(counts) <= {401, 429}, counts
    assert counts[401] <= lock_after, counts
    assert counts[401] + counts[429] == guesses
    assert len(checked) <= lock_after
    [(failures,)] = harness.sql("SELECT MAX(failures) FROM login_attempts")
    assert failures <= lock_after


def test_a_correct_password_takes_back_only_its_own_count_at_the_address(make_harness):
    harness = make_harness(**per_address(3, 4, auth_trusted_proxies=("testclient",)))
    own = harness.create()
    address = {"X-Forwarded-For": "198.51.100.7"}
    for i in range(2):
        assert attempt(harness.client, f"user{i}@example.com", "guess guess guess", **address).status_code == 401

    # The third attempt reaches the slow-down while it runs; being right, it leaves no wait behind.
    assert attempt(harness.client, own["email"], own["password"], **address).status_code == 200
    assert attempt(harness.client, own["email"], own["password"], **address).status_code == 200

    # ...and does not clear the address's count either: the next failure is its third.
    assert attempt(harness.client, "user9@example.com", "guess guess guess", **address).status_code == 401
    assert attempt(harness.client, own["email"], own["password"], **address).status_code == 429


STRANGER_AND_MANAGER = {
    **FAST,
    "auth_account_slowdown_after": 3,
    "auth_account_lock_after": 4,
    "auth_lock_base_s": 60,
    "auth_lock_max_s": 60,
    "auth_known_address_delay_max_s": 1,
    "auth_trusted_proxies": ("testclient",),
}


def test_a_strangers_wrong_guesses_do_not_stop_the_manager_signing_in_from_a_known_address(make_harness):
    """A stranger guesses the manager's password from their own addresses until the account is
    locked for them; the manager, at an address they signed in from before, still gets in (held at
    most a second), while a new address of theirs waits like the stranger's."""
    harness = make_harness(**STRANGER_AND_MANAGER)
    manager = harness.create("senior_management")
    office = {"X-Forwarded-For": "198.51.100.7"}
    assert attempt(harness.client, manager["email"], manager["password"], **office).status_code == 200

    stranger = {"X-Forwarded-For": "203.0.113.9"}
    answers = [attempt(harness.client, manager["email"], f"guess number {i}", **stranger).status_code for i in range(3)]
    assert answers == [401, 401, 429]  # the stranger's own address is slowed, then locked
    # ...so they move on to other addresses, and the account-wide count slows, then locks, strangers.
    assert (
        attempt(harness.client, manager["email"], "guess four", **{"X-Forwarded-For": "192.0.2.1"}).status_code == 401
    )
    slowed = attempt(harness.client, manager["email"], "guess five", **{"X-Forwarded-For": "192.0.2.2"})
    assert slowed.status_code == 429
    wait_out(slowed)
    assert attempt(harness.client, manager["email"], "guess six", **{"X-Forwarded-For": "192.0.2.3"}).status_code == 401
    locked = attempt(harness.client, manager["email"], manager["password"], **{"X-Forwarded-For": "192.0.2.200"})
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 2

    started = time.monotonic()
    signed_in = attempt(harness.client, manager["email"], manager["password"], **office)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["access_token"]
    assert time.monotonic() - started < 1 + harness.hash_time_s() * 4 + 0.5
    assert attempt(harness.client, manager["email"], manager["password"], **office).status_code == 200
    assert attempt(harness.client, manager["email"], "guess guess", **stranger).status_code == 429


def test_known_addresses_are_kept_hashed_per_account(make_harness):
    harness = make_harness(**STRANGER_AND_MANAGER)
    manager = harness.create("senior_management")

    attempt(harness.client, manager["email"], manager["password"], **{"X-Forwarded-For": "198.51.100.7"})

    rows = harness.sql("SELECT user_id, address FROM known_addresses")
    assert [row.user_id for row in rows] == [manager["id"]]
    assert len(rows[0].address) == 32
    assert b"198.51" not in rows[0].address
