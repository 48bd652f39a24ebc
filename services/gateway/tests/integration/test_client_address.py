"""A sign-in through the gateway is counted by auth under the client's address, which the gateway
vouches for with its service credential: wrong passwords from one client lock that client, not every
sign-in that passes through the gateway."""

from __future__ import annotations

import secrets
import time

import httpx
import pytest

from supply_common.testing.deployment import Deployment

pytestmark = pytest.mark.integration

STRANGER = {"X-Forwarded-For": "203.0.113.77"}
OWNER = {"X-Forwarded-For": "198.51.100.9"}
LOCK_AFTER = 5
"""Auth's default: failures of one account from one address before that address is locked."""


def test_a_login_through_the_gateway_counts_under_the_clients_address(deployment: Deployment) -> None:
    # A gateway behind a proxy of its own: the client address is what that proxy appended.
    gateway = deployment.add_gateway("gateway-behind-a-proxy", TRUST_FORWARDED_FOR="true")
    deployment.start(gateway.name)
    email, password = f"addr.{secrets.token_hex(4)}@example.com", f"Gw-{secrets.token_urlsafe(12)}"
    deployment.create_user(email, "customer", password)
    try:
        with httpx.Client(base_url=gateway.url, timeout=30) as client:

            def login(guess: str, headers: dict[str, str]) -> httpx.Response:
                return client.post("/api/auth/login", json={"email": email, "password": guess}, headers=headers)

            failures = 0
            while failures < LOCK_AFTER:
                answer = login(f"wrong guess {failures}", STRANGER)
                if answer.status_code == 429:  # slowed down between failures: wait, as a client would
                    time.sleep(int(answer.headers["Retry-After"]) + 0.1)
                    continue
                assert answer.status_code == 401, answer.text
                failures += 1

            locked = login(password, STRANGER)
            assert locked.status_code == 429, "the stranger's address is locked for the account"
            assert int(locked.headers["Retry-After"]) > 10
            owner = login(password, OWNER)
            assert owner.status_code == 200, f"another client through the same gateway is not: {owner.text}"
    finally:
        deployment.stop(gateway.name)
