"""An auth app per test, wired by `bootstrap` against a throwaway, migrated MariaDB database."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from supply_auth.adapters import migrate
from supply_auth.bootstrap import Container, bootstrap
from supply_auth.config import AuthSettings
from supply_auth.entrypoints.app import create_app
from supply_common.db import make_engine
from supply_common.testing.accounts import sign_up
from supply_common.testing.fixtures import random_name
from supply_common.testing.mail import token_in, wait_for_mail

DEFAULT_PASSWORD = "a sturdy passphrase"
QUIET_THROTTLE = {
    "auth_account_address_slowdown_after": 1000,
    "auth_account_address_lock_after": 1000,
    "auth_account_slowdown_after": 1000,
    "auth_account_lock_after": 1000,
    "auth_address_slowdown_after": 1000,
    "auth_address_lock_after": 1000,
}


def settings_for(mysql_url: str, database: str, keys_dir: Path, **overrides: Any) -> AuthSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "mysql_url": mysql_url,
        "mysql_database": database,
        "mysql_pool_size": 4,
        "auth_keys_dir": keys_dir,
        **overrides,
    }
    return AuthSettings(_env_file=None, **values)  # type: ignore[call-arg]


class AtOnce:
    """`count` clients, each on its own connection, released together by one barrier to send
    `call(client, i)`; `join` gives their statuses once all have answered."""

    def __init__(self, client: TestClient, count: int, call: Callable[[TestClient, int], httpx.Response]) -> None:
        start = threading.Barrier(count)
        self.statuses: list[int] = []

        def one(i: int) -> None:
            own = TestClient(client.app)
            start.wait()
            self.statuses.append(call(own, i).status_code)

        self.threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
        for thread in self.threads:
            thread.start()

    def join(self, timeout_s: float = 60) -> list[int]:
        for thread in self.threads:
            thread.join(timeout_s)
        return self.statuses


@dataclass
class Harness:
    mysql_url: str
    database: str
    keys_dir: Path
    auth: Container
    client: TestClient
    mail_dir: Path
    others: list[Container] = field(default_factory=list)

    def instance(self, **overrides: Any) -> tuple[Container, TestClient]:
        """Another auth process on the same database, keys and mail drop, with its own settings."""
        settings = settings_for(self.mysql_url, self.database, self.keys_dir, auth_mail_dir=self.mail_dir, **overrides)
        auth = bootstrap(settings)
        self.others.append(auth)
        return auth, TestClient(create_app(auth))

    def sql(self, query: str, **params: Any) -> list[sa.Row]:
        with self.auth.engine.connect() as connection:
            return list(connection.execute(sa.text(query), params))

    def execute(self, statement: str, **params: Any) -> None:
        with self.auth.engine.begin() as connection:
            connection.execute(sa.text(statement), params)

    def hash_time_s(self) -> float:
        """What one password hash takes here now (median of three): the yardstick of timing tests."""
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            self.auth.hasher.hash("some password here")
            timings.append(time.perf_counter() - started)
        return statistics.median(timings)

    def user_count(self) -> int:
        return int(self.sql("SELECT COUNT(*) FROM users")[0][0])

    def create(self, role: str = "customer", *, email: str | None = None, password: str = DEFAULT_PASSWORD) -> dict:
        email = email or f"{random_name(role)}@example.com"
        user = self.auth.accounts.create_account(email=email, password=password, name=f"Test {role}", role=role)
        return {"id": user.id, "email": email, "password": password, "role": role}

    def login(self, account: dict, client: TestClient | None = None, *, from_address: str | None = None) -> dict:
        """Sign in, as the gateway does for a client at `from_address` if given."""
        response = (client or self.client).post(
            "/login",
            json={"email": account["email"], "password": account["password"]},
            headers=self.from_gateway(from_address) if from_address else None,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def service_credential(self, *scopes: str, subject: str = "gateway", ttl_s: int = 3600) -> str:
        """A service credential signed by this auth's key, as `auth issue-service-token` makes one."""
        settings = self.auth.settings
        return self.auth.tokens.issue_service(
            subject=subject, scopes=list(scopes), audience=settings.auth_service_audience, ttl_s=ttl_s
        )

    def from_gateway(self, address: str) -> dict[str, str]:
        """The headers the gateway adds to a client's call: the address it saw, and its credential
        vouching for it."""
        credential = self.service_credential("auth:client-address")
        return {"X-Forwarded-For": address, "X-Service-Authorization": f"Bearer {credential}"}

    def bearer(self, account: dict) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.login(account)['access_token']}"}

    def token_mailed(self, email: str, count: int = 1) -> str:
        """The password-link token of the newest message to `email`, once `count` have arrived."""
        return token_in(wait_for_mail(self.mail_dir, email, count=count))

    def choose_password(self, token: str, password: str = DEFAULT_PASSWORD):  # type: ignore[no-untyped-def]
        """What the "Choose your password" page sends."""
        return self.client.post("/verify-email", json={"token": token, "password": password})

    def at_once(self, count: int, call: Callable[[TestClient, int], httpx.Response]) -> AtOnce:
        return AtOnce(self.client, count, call)

    def register_confirmed(self, email: str, password: str = DEFAULT_PASSWORD, name: str = "Test customer") -> dict:
        """Register through the API and choose the password through the link mailed, as a customer would."""
        sign_up(self.client, self.mail_dir, email, password, name=name)
        return {"email": email, "password": password, "role": "customer"}


@pytest.fixture
def make_harness(
    mysql_url: str, fresh_mysql_database: Callable[[str], str], tmp_path: Path
) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(**overrides: Any) -> Harness:
        database = fresh_mysql_database("auth")
        keys_dir = tmp_path / f"keys-{len(made)}"
        mail_dir = tmp_path / f"mail-{len(made)}"
        settings = settings_for(
            mysql_url, database, keys_dir, **{"auth_mail_dir": mail_dir, **QUIET_THROTTLE, **overrides}
        )
        engine = make_engine(settings)
        migrate.upgrade(engine)
        engine.dispose()
        auth = bootstrap(settings, require_keys=False)
        auth.keys.rotate()
        harness = Harness(mysql_url, database, keys_dir, auth, TestClient(create_app(auth)), mail_dir)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        for auth in (harness.auth, *harness.others):
            auth.close()


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()
