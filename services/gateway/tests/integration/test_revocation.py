"""The gateway refuses an access token within a second of the account change that ended it (disabled,
demoted, logged out), as auth's account events tell it, and a gateway started after the change
refuses it from its first request."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from supply_common.processes import Process
from supply_common.testing.deployment import Deployment
from supply_common.testing.sales import sale_body

from ..conftest import Accounts

pytestmark = pytest.mark.integration

NO_SALE = "/api/sales/000000000000000000000000"
"""A route every role may call, answered by the read copy (404): the gateway's token check decides."""
WITHIN_S = 1.0


def new_account(deployment: Deployment, role: str) -> tuple[str, str]:
    email, password = f"revoked.{secrets.token_hex(4)}@example.com", f"Rv-{secrets.token_urlsafe(12)}"
    deployment.create_user(email, role, password)
    return email, password


def login(gateway: str, email: str, password: str) -> dict:
    response = httpx.post(f"{gateway}/api/auth/login", json={"email": email, "password": password}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def bearer(pair: dict) -> dict[str, str]:
    return {"authorization": f"Bearer {pair['access_token']}"}


def user_id(gateway: str, pair: dict) -> str:
    return str(httpx.get(f"{gateway}/api/auth/me", headers=bearer(pair), timeout=10).json()["id"])


def seconds_until_refused(client: httpx.Client, path: str, headers: dict[str, str], limit_s: float = 10.0) -> float:
    """From now until `path` first answers 401 with `headers`."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if client.get(path, headers=headers).status_code == 401:
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"{path} still accepted the token after {limit_s} s")


@pytest.fixture(scope="module")
def boss(deployment: Deployment) -> tuple[str, str]:
    """A senior manager's email and password (signed in afresh for each change: tokens expire)."""
    return new_account(deployment, "senior_management")


def change(gateway: str, boss: tuple[str, str], user: str, **patch: object) -> None:
    headers = bearer(login(gateway, *boss))
    response = httpx.patch(f"{gateway}/api/users/{user}", json=patch, headers=headers, timeout=30)
    assert response.status_code == 200, response.text


def test_a_disabled_worker_can_no_longer_create_sales(
    deployment: Deployment, gateway_url: str, boss: tuple[str, str], accounts: Accounts
) -> None:
    worker = login(gateway_url, *new_account(deployment, "technical_worker"))
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        created = client.post(
            "/api/sales",
            json=sale_body(email=accounts["customer"].email),
            headers={**bearer(worker), "idempotency-key": secrets.token_hex(8)},
        )
        assert created.status_code == 201, created.text
        change(gateway_url, boss, user_id(gateway_url, worker), disabled=True)
        assert seconds_until_refused(client, NO_SALE, bearer(worker)) < WITHIN_S
        refused = client.post(
            "/api/sales",
            json=sale_body(email=accounts["customer"].email),
            headers={**bearer(worker), "idempotency-key": secrets.token_hex(8)},
        )
    assert refused.status_code == 401


def test_a_demoted_manager_can_no_longer_read_analytics(
    deployment: Deployment, gateway_url: str, boss: tuple[str, str]
) -> None:
    email, password = new_account(deployment, "senior_management")
    manager = login(gateway_url, email, password)
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        assert client.get("/api/analytics/summary", headers=bearer(manager)).status_code == 200
        change(gateway_url, boss, user_id(gateway_url, manager), role="customer")
        assert seconds_until_refused(client, "/api/analytics/summary", bearer(manager)) < WITHIN_S
        # Signed in again, the customer they are now gets a customer's answer.
        again = login(gateway_url, email, password)
        assert client.get("/api/analytics/summary", headers=bearer(again)).status_code == 403


def test_an_access_token_is_refused_after_its_login_logged_out(deployment: Deployment, gateway_url: str) -> None:
    email, password = new_account(deployment, "technical_worker")
    leaving, staying = login(gateway_url, email, password), login(gateway_url, email, password)
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        out = client.post("/api/auth/logout", json={"refresh_token": leaving["refresh_token"]}, headers=bearer(leaving))
        assert out.status_code == 204, out.text
        assert seconds_until_refused(client, NO_SALE, bearer(leaving)) < WITHIN_S
        assert client.get(NO_SALE, headers=bearer(staying)).status_code == 404  # the other login goes on


@pytest.fixture
def second_gateway(deployment: Deployment) -> Iterator[Process]:
    process = deployment.add_gateway(f"gateway-{secrets.token_hex(3)}")
    process.start().wait_ready()
    yield process
    process.stop()
    deployment.processes.pop(process.name, None)


def test_a_gateway_started_after_the_change_refuses_the_token_at_once(
    deployment: Deployment, gateway_url: str, boss: tuple[str, str], second_gateway: Process
) -> None:
    worker = login(gateway_url, *new_account(deployment, "technical_worker"))
    assert httpx.get(f"{second_gateway.url}{NO_SALE}", headers=bearer(worker), timeout=30).status_code == 404
    second_gateway.stop()
    change(gateway_url, boss, user_id(gateway_url, worker), disabled=True)
    second_gateway.start().wait_ready()
    assert httpx.get(f"{second_gateway.url}{NO_SALE}", headers=bearer(worker), timeout=30).status_code == 401
