"""The review's lock-out through a forged address, rerun against the running processes: a process on
the host calls auth's own port (loopback, like every local process) and names a manager's known
address in `X-Forwarded-For`. Auth believes that header only from the gateway, proven by the
gateway's service credential (`auth:client-address` in `X-Service-Authorization`), so the forged
failures land on the caller's own address and the manager still signs in through the gateway."""

from __future__ import annotations

import secrets
import time

import httpx
import pytest
from conftest import Launch

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

OFFICE = "198.51.100.7"
"""The manager's address, as the proxy in front of the gateway records it."""
LOCK_AFTER = 5
"""Auth's default: failures of one account from one address before that address is locked."""


def login(http: httpx.Client, url: str, email: str, password: str, headers: dict[str, str]) -> httpx.Response:
    return http.post(url, json={"email": email, "password": password}, headers=headers)


def fail_until_locked(http: httpx.Client, url: str, email: str, headers: dict[str, str]) -> None:
    """Wrong passwords until `LOCK_AFTER` were counted, waiting out the slow-downs in between."""
    counted = 0
    while counted < LOCK_AFTER:
        answer = login(http, url, email, f"wrong guess {counted}", headers)
        if answer.status_code == 429:
            assert int(answer.headers["Retry-After"]) <= 10, "locked before the failures were all counted"
            time.sleep(int(answer.headers["Retry-After"]) + 0.1)
            continue
        assert answer.status_code == 401, answer.text
        counted += 1


def test_a_process_on_the_host_cannot_lock_a_manager_out_through_a_forged_forwarded_address(launch: Launch) -> None:
    # The gateway sits behind a proxy of its own here, so that the manager's address is not loopback.
    scenario = launch(extra_env={"TRUST_FORWARDED_FOR": "true"})
    deployment = scenario.deployment
    auth, gateway = deployment.url("auth"), scenario.gateway
    reconcile_credential = deployment.credential_path("reconcile").read_text().strip()
    not_the_gateway = {
        "no credential": {},
        "a credential without the scope": {"X-Service-Authorization": f"Bearer {reconcile_credential}"},
    }
    with httpx.Client(timeout=30) as http:
        for holds, credential in not_the_gateway.items():
            email, password = f"boss.{secrets.token_hex(4)}@example.com", f"E2e-{secrets.token_urlsafe(12)}"
            deployment.create_user(email, "senior_management", password)
            through_gateway = {"X-Forwarded-For": OFFICE}
            first = login(http, f"{gateway}/api/auth/login", email, password, through_gateway)
            assert first.status_code == 200, first.text

            forged = {"X-Forwarded-For": OFFICE, **credential}
            fail_until_locked(http, f"{auth}/login", email, forged)
            dodge = {**forged, "X-Forwarded-For": "192.0.2.44"}
            locked = login(http, f"{auth}/login", email, password, dodge)
            assert locked.status_code == 429, f"{holds}: the caller's own address is the one locked"
            assert int(locked.headers["Retry-After"]) > 10

            manager = login(http, f"{gateway}/api/auth/login", email, password, through_gateway)
            assert manager.status_code == 200, f"{holds}: the manager is locked out: {manager.text}"
