"""A running deployment (every service as a process) shared by the integration and browser tests."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from supply_common.testing.deployment import Deployment, running
from supply_common.testing.fixtures import Servers
from supply_common.testing.sales import sale_body


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    role: str


@dataclass
class Accounts:
    """One account per role (two customers), and fresh access tokens got from auth directly."""

    auth_url: str
    by_name: dict[str, Account]
    mail_dir: Path
    """Auth's mail drop (`supply_common.testing.mail` reads it)."""
    _tokens: dict[str, tuple[float, dict]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Account:
        return self.by_name[name]

    def login(self, name: str) -> dict:
        cached = self._tokens.get(name)
        if cached and time.monotonic() - cached[0] < 120:
            return cached[1]
        account = self.by_name[name]
        response = httpx.post(
            f"{self.auth_url}/login", json={"email": account.email, "password": account.password}, timeout=30
        )
        response.raise_for_status()
        self._tokens[name] = (time.monotonic(), response.json())
        return response.json()

    def token(self, name: str) -> str:
        return str(self.login(name)["access_token"])

    def headers(self, name: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(name)}"}


ROLE_OF = {
    "customer": "customer",
    "other_customer": "customer",
    "technical_worker": "technical_worker",
    "senior_management": "senior_management",
}


SUMMARY_COUNT_CAP = 3
"""The read API's count of a search its rollups cannot answer stops past this many sales, so that a
test can make a match larger than it."""


@pytest.fixture(scope="session")
def deployment(
    servers: Servers,
    session_mysql_database: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    made = Deployment.create(
        servers,
        make_database=session_mysql_database,
        work_dir=Path(tmp_path_factory.mktemp("deployment")),
        extra_env={
            "RATE_CREDENTIALS_PER_MIN": "600",
            "RATE_CREDENTIALS_BURST": "100",
            "SUMMARY_COUNT_CAP": str(SUMMARY_COUNT_CAP),
        },
    )
    made.migrate()
    with running(made):
        yield made


@pytest.fixture(scope="session")
def accounts(deployment: Deployment) -> Accounts:
    tag = secrets.token_hex(3)
    by_name = {
        name: Account(f"{name.replace('_', '.')}.{tag}@example.com", f"Gw-{secrets.token_urlsafe(12)}", role)
        for name, role in ROLE_OF.items()
    }
    for account in by_name.values():
        deployment.create_user(account.email, account.role, account.password)
    return Accounts(deployment.url("auth"), by_name, deployment.mail_dir)


@pytest.fixture(scope="session")
def gateway_url(deployment: Deployment) -> str:
    return deployment.url("gateway")


class Api:
    """Calls through the gateway, and helpers to make what the checks need."""

    def __init__(self, gateway_url: str, accounts: Accounts) -> None:
        self.client = httpx.Client(base_url=gateway_url, timeout=30)
        self.accounts = accounts

    def call(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if who:
            headers.update(self.accounts.headers(who))
        return self.client.request(method, path, headers=headers, **kwargs)

    def create_sale(self, email: str, **kwargs: Any) -> tuple[str, int]:
        response = self.call(
            "POST",
            "/api/sales",
            "technical_worker",
            json=sale_body(email=email, **kwargs),
            headers={"idempotency-key": secrets.token_hex(8)},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return body["id"], int(body["version"])

    def stored_sale(self, sale_id: str) -> tuple[dict[str, Any], int]:
        """The sale as the sales-writer holds it (without its `_id`), and its version."""
        response = self.call("GET", f"/api/sales/{sale_id}/current", "technical_worker")
        assert response.status_code == 200, response.text
        body = response.json()
        return {k: v for k, v in body["sale"].items() if k != "_id"}, int(body["version"])

    def replace_sale(self, sale_id: str, version: int, sale: dict[str, Any]) -> int:
        """`sale` saved over `version` by a technical worker; the version it became."""
        response = self.call(
            "PUT", f"/api/sales/{sale_id}", "technical_worker", json=sale, headers={"if-match": f'"{version}"'}
        )
        assert response.status_code == 200, response.text
        return int(response.json()["version"])

    def wait_projected(self, sale_id: str, version: int, timeout_s: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            response = self.call(
                "GET", f"/api/sales/{sale_id}", "technical_worker", params={"min_version": version, "wait_ms": 3000}
            )
            if response.status_code == 200 and int(response.json()["version"]) >= version:
                return response.json()
            assert time.monotonic() < deadline, (
                f"sale {sale_id} v{version} not projected: {response.status_code} {response.text}"
            )
            time.sleep(0.2)


@pytest.fixture(scope="session")
def api(gateway_url: str, accounts: Accounts) -> Api:
    return Api(gateway_url, accounts)


@pytest.fixture(scope="session")
def customer_sale(api: Api, accounts: Accounts) -> str:
    """A sale of `customer`, already in the read copy."""
    sale_id, version = api.create_sale(accounts["customer"].email)
    api.wait_projected(sale_id, version)
    return sale_id
