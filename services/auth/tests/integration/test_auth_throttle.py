from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from supply_common.testing.deployment import free_port
from supply_common.testing.tokens import TestIssuer

from .conftest import Harness

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


def per_address(slowdown_after: int, lock_after: int) -> dict[str, object]:
    """FAST, with these limits for each client address and the account-wide ones out of reach."""
    return {
        **FAST,
        "auth_account_slowdown_after": 100,
        "auth_account_lock_after": 100,
        "auth_address_slowdown_after": slowdown_after,
        "auth_address_lock_after": lock_after,
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


def spray(harness: Harness, accounts: int, client: dict[str, str]) -> None:
    """A wrong guess at each of that many accounts, from the client the gateway's headers name: each
    is refused as a wrong password, not yet throttled."""
    for i in range(accounts):
        assert attempt(harness.client, f"user{i}@example.com", "guess guess guess", **client).status_code == 401


def test_one_client_address_spraying_many_accounts_is_locked_without_locking_others(make_harness):
    harness = make_harness(**per_address(3, 3))
    victim = harness.create()
    attacker = harness.from_gateway("198.51.100.7, 203.0.113.9")

    spray(harness, 3, attacker)

    assert attempt(harness.client, "fresh@example.com", "guess guess guess", **attacker).status_code == 429
    spoofed = harness.from_gateway("203.0.113.9, 192.0.2.1")
    assert attempt(harness.client, victim["email"], victim["password"], **spoofed).status_code == 200


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
    wrong = harness.at_once(
        guesses,
        lambda client, i: attempt(
            client, account["email"], f"wrong password {i}", **harness.from_gateway(f"192.0.2.{i}")
        ),
    )
    assert threshold_reached.wait(30)
    right = attempt(harness.client, account["email"], account["password"], **harness.from_gateway("198.51.100.1"))
    statuses = wrong.join()

    assert right.status_code == 429, right.text
    counts = Counter(statuses)
    assert set(counts) <= {401, 429}, counts
    assert counts[401] <= lock_after, counts
    assert counts[401] + counts[429] == guesses
    assert len(checked) <= lock_after
    [(failures,)] = harness.sql("SELECT MAX(failures) FROM login_attempts")
    assert failures <= lock_after


def test_a_correct_password_takes_back_only_its_own_count_at_the_address(make_harness):
    harness = make_harness(**per_address(3, 4))
    own = harness.create()
    address = harness.from_gateway("198.51.100.7")
    spray(harness, 2, address)

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
}


def test_a_strangers_wrong_guesses_do_not_stop_the_manager_signing_in_from_a_known_address(make_harness):
    """A stranger guesses the manager's password from their own addresses until the account is
    locked for them; the manager, at an address they signed in from before, still gets in (held at
    most a second), while a new address of theirs waits like the stranger's."""
    harness = make_harness(**STRANGER_AND_MANAGER)
    manager = harness.create("senior_management")
    office = harness.from_gateway("198.51.100.7")
    assert attempt(harness.client, manager["email"], manager["password"], **office).status_code == 200

    stranger = harness.from_gateway("203.0.113.9")
    answers = [attempt(harness.client, manager["email"], f"guess number {i}", **stranger).status_code for i in range(3)]
    assert answers == [401, 401, 429]  # the stranger's own address is slowed, then locked
    # ...so they move on to other addresses, and the account-wide count slows, then locks, strangers.
    assert (
        attempt(harness.client, manager["email"], "guess four", **harness.from_gateway("192.0.2.1")).status_code == 401
    )
    slowed = attempt(harness.client, manager["email"], "guess five", **harness.from_gateway("192.0.2.2"))
    assert slowed.status_code == 429
    wait_out(slowed)
    sixth = attempt(harness.client, manager["email"], "guess six", **harness.from_gateway("192.0.2.3"))
    assert sixth.status_code == 401
    locked = attempt(harness.client, manager["email"], manager["password"], **harness.from_gateway("192.0.2.200"))
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

    attempt(harness.client, manager["email"], manager["password"], **harness.from_gateway("198.51.100.7"))

    rows = harness.sql("SELECT user_id, address FROM known_addresses")
    assert [row.user_id for row in rows] == [manager["id"]]
    assert len(rows[0].address) == 32
    assert b"198.51" not in rows[0].address


@contextmanager
def on_loopback(app: FastAPI) -> Iterator[httpx.Client]:
    """A client of `app` served for real on 127.0.0.1, the address every process on the host calls
    from, by uvicorn set as `auth serve` sets it (its own proxy-header rewriting off), without the
    lifespan (nothing here needs the account-events relay)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None, proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive(), "the server stopped at start"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


def fail_until_locked(client, email: str, headers: dict[str, str], failures: int = 3) -> None:
    """Wrong passwords until `failures` were counted (waiting out each slow-down in between)."""
    counted = 0
    while counted < failures:
        response = attempt(client, email, f"wrong guess {counted}", **headers)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) <= 2, "locked before the failures were all counted"
            wait_out(response)
            continue
        assert response.status_code == 401, response.text
        counted += 1


OFFICE = "198.51.100.7"
"""The manager's known address: where they signed in from before."""

NOT_THE_GATEWAY: dict[str, Callable[[Harness], dict[str, str]]] = {
    "no credential": lambda harness: {},
    "a user's access token": lambda harness: {
        "X-Service-Authorization": harness.bearer(harness.create())["Authorization"]
    },
    "a credential without the scope": lambda harness: {
        "X-Service-Authorization": f"Bearer {harness.service_credential('outbox:read')}"
    },
    "an expired credential": lambda harness: {
        "X-Service-Authorization": f"Bearer {harness.service_credential('auth:client-address', ttl_s=-60)}"
    },
    "a credential of another key": lambda harness: {
        "X-Service-Authorization": f"Bearer {TestIssuer().service_token('auth:client-address', subject='gateway')}"
    },
    "the credential in Authorization": lambda harness: {
        "Authorization": f"Bearer {harness.service_credential('auth:client-address')}"
    },
}


@pytest.mark.parametrize("holds", list(NOT_THE_GATEWAY))
def test_a_process_on_the_host_cannot_spend_a_managers_known_address_with_a_forged_header(make_harness, holds):
    """A process that calls auth directly on loopback names the manager's office in X-Forwarded-For,
    with anything but the gateway's credential: its failures are counted under its own address, which
    is locked whatever address it claims next, and the manager still signs in from the office."""
    harness = make_harness(**STRANGER_AND_MANAGER)
    manager = harness.create("senior_management")
    harness.login(manager, from_address=OFFICE)

    with on_loopback(harness.client.app) as direct:
        forged = {"X-Forwarded-For": OFFICE, **NOT_THE_GATEWAY[holds](harness)}
        fail_until_locked(direct, manager["email"], forged)
        elsewhere = {**forged, "X-Forwarded-For": "192.0.2.77"}
        locked = attempt(direct, manager["email"], manager["password"], **elsewhere)
        assert locked.status_code == 429, "another claimed address does not dodge the caller's own lock"
        assert int(locked.headers["Retry-After"]) > 2

    signed_in = attempt(harness.client, manager["email"], manager["password"], **harness.from_gateway(OFFICE))
    assert signed_in.status_code == 200, signed_in.text


def test_the_address_the_gateway_vouches_for_is_the_one_counted(make_harness):
    """The same calls with the gateway's credential: now the office is where the failures happened,
    so the office is locked for the account, and the caller's own address is not."""
    harness = make_harness(**STRANGER_AND_MANAGER)
    manager = harness.create("senior_management")
    harness.login(manager, from_address=OFFICE)

    with on_loopback(harness.client.app) as gateway:
        fail_until_locked(gateway, manager["email"], harness.from_gateway(OFFICE))
        locked = attempt(gateway, manager["email"], manager["password"], **harness.from_gateway(OFFICE))
        assert locked.status_code == 429
        assert int(locked.headers["Retry-After"]) > 2
        time.sleep(STRANGER_AND_MANAGER["auth_slowdown_base_s"] + 0.1)  # the account-wide slow-down (not a lock)
        elsewhere = attempt(gateway, manager["email"], manager["password"], **harness.from_gateway("192.0.2.77"))
        assert elsewhere.status_code == 200, elsewhere.text
