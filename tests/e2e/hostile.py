"""What the hostile-input tests share: a valid sale body to spoil, the people who send it, and the
check that nothing answered 5xx."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import httpx

from supply_common.testing.sales import sale_body

BASE: dict[str, Any] = sale_body(email="hostile@example.com", store="Seattle")


def with_value(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(BASE)
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


@dataclass
class People:
    worker: str
    boss: str
    customer: str
    other: str
    customer_email: str
    other_email: str


def login(gateway: str, email: str, password: str) -> str:
    response = httpx.post(f"{gateway}/api/auth/login", json={"email": email, "password": password}, timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def no_5xx(response: httpx.Response) -> httpx.Response:
    assert response.status_code < 500, f"{response.request.method} {response.request.url}: {response.status_code}"
    return response
