from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import pytest

from ..conftest import Accounts


def sale_body(email: str, *, store: str = "Denver", quantity: int = 4) -> dict[str, Any]:
    return {
        "saleDate": "2024-05-01T10:30:00.000Z",
        "items": [{"name": "pens", "tags": ["office", "writing"], "price": "3.50", "quantity": quantity}],
        "storeLocation": store,
        "customer": {"gender": "F", "age": 30, "email": email, "satisfaction": 4},
        "couponUsed": False,
        "purchaseMethod": "Online",
    }


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
            json=sale_body(email, **kwargs),
            headers={"idempotency-key": secrets.token_hex(8)},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return body["id"], int(body["version"])

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
