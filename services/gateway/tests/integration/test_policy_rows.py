"""Every row of the policy table, through the running gateway: one allowed caller, one refused."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from supply_common.testing import SAMPLE_DATASET
from supply_common.testing.mail import token_in, wait_for_mail
from supply_common.testing.sales import sale_body
from supply_gateway.domain.policy import POLICY

from ..conftest import Accounts, Api

pytestmark = pytest.mark.integration

Build = Callable[[Api, Accounts, str], tuple[str, dict[str, Any]]]
"""Given the API, the accounts and the customer's sale id: the concrete path and request kwargs."""


@dataclass(frozen=True)
class Case:
    method: str
    template: str
    allowed: str | None
    """Who may (None: anyone, without a token)."""
    refused: str | None
    """Who may not (None: an anonymous caller, refused with 401)."""
    expect: int
    build: Build = lambda api, accounts, sale_id: ("", {})


def _path(template: str) -> Build:
    return lambda api, accounts, sale_id: (template.replace("{id}", sale_id), {})


def _a_week_by_day(api: Api, accounts: Accounts, sale_id: str) -> tuple[str, dict[str, Any]]:
    week = {"date_from": "2017-03-01T00:00:00Z", "date_to": "2017-03-08T00:00:00Z"}
    return "/api/analytics/by-day", {"params": week}


def _register(api: Api, accounts: Accounts, sale_id: str) -> tuple[str, dict[str, Any]]:
    email = f"new.{secrets.token_hex(4)}@example.com"
    return "/api/auth/register", {"json": {"email": email, "name": "New"}}


def _verify_email(api: Api, accounts: Accounts, sale_id: str) -> tuple[str, dict[str, Any]]:
    path, kwargs = _register(api, accounts, sale_id)
    email = kwargs["json"]["email"]
    assert api.call("POST", path, **kwargs).status_code == 202
    token = token_in(wait_for_mail(accounts.mail_dir, email))
    return "/api/auth/verify-email", {"json": {"token": token, "password": f"Pw-{secrets.token_urlsafe(12)}"}}


def _login(api: Api, accounts: Accounts, sale_id: str) -> tuple[str, dict[str, Any]]:
    account = accounts["customer"]
    return "/api/auth/login", {"json": {"email": account.email, "password": account.password}}


def _fresh_pair(accounts: Accounts) -> dict[str, Any]:
    account = accounts["other_customer"]
    response = httpx.post(f"{accounts.auth_url}/login", json={"email": account.email, "password": account.password})
    response.raise_for_status()
    return response.json()


def _refresh(api: Api, accounts: Accounts, sale_id: str) -> tuple[str, dict[str, Any]]:
    return "/api/auth/refresh", {"json": {"refresh_token": _fresh_pair(accounts)["refresh_token"]}}


def _logout(api: Api, accounts: Accounts, sale_id: str) -> tuple[str, dict[str, Any]]:
    return "/api/auth/logout", {"json": {"refresh_token": _fresh_pair(accounts)["refresh_token"]}}


def _create(api: Api, accounts: Accounts, sale_id: str) -> tuple[str, dict[str, Any]]:
    return "/api/sales", {"json": sale_body(email=accounts["other_customer"].email)}


def _import(api: Api, accounts: Accounts, sale_id: str) -> tuple[str, dict[str, Any]]:
    line = SAMPLE_DATASET.read_text().splitlines()[0]
    return "/api/sales/import", {"content": line.encode() + b"\n", "headers": {"content-type": "application/x-ndjson"}}


def _put(api: Api, accounts: Accounts, sale_id: str) -> tuple[str, dict[str, Any]]:
    own_id, version = api.create_sale(accounts["other_customer"].email)
    body = sale_body(email=accounts["other_customer"].email, quantity=9)
    return f"/api/sales/{own_id}", {"json": body, "headers": {"if-match": f'"{version}"'}}


def _delete(api: Api, accounts: Accounts, sale_id: str) -> tuple[str, dict[str, Any]]:
    own_id, version = api.create_sale(accounts["other_customer"].email)
    return f"/api/sales/{own_id}", {"headers": {"if-match": f'"{version}"'}}


def _new_staff(api: Api, accounts: Accounts, sale_id: str) -> tuple[str, dict[str, Any]]:
    email = f"staff.{secrets.token_hex(4)}@example.com"
    body = {"email": email, "name": "Staff", "role": "technical_worker"}
    return "/api/users", {"json": body}


def _password_link(api: Api, accounts: Accounts, sale_id: str) -> tuple[str, dict[str, Any]]:
    path, kwargs = _new_staff(api, accounts, sale_id)
    invited = api.call("POST", path, "senior_management", **kwargs)
    assert invited.status_code == 201, invited.text
    return f"/api/users/{invited.json()['id']}/password-link", {}


def _resend(api: Api, accounts: Accounts, sale_id: str) -> tuple[str, dict[str, Any]]:
    return "/api/auth/resend-confirmation", {"json": {"email": f"new.{secrets.token_hex(4)}@example.com"}}


def _patch_user(api: Api, accounts: Accounts, sale_id: str) -> tuple[str, dict[str, Any]]:
    path, kwargs = _new_staff(api, accounts, sale_id)
    created = api.call("POST", path, "senior_management", **kwargs)
    assert created.status_code == 201, created.text
    return f"/api/users/{created.json()['id']}", {"json": {"role": "senior_management"}}


CASES = [
    Case("POST", "/api/auth/register", None, None, 202, _register),
    Case("POST", "/api/auth/verify-email", None, None, 200, _verify_email),
    Case("POST", "/api/auth/login", None, None, 200, _login),
    Case("POST", "/api/auth/resend-confirmation", None, None, 202, _resend),
    Case("POST", "/api/auth/refresh", None, None, 200, _refresh),
    Case("GET", "/.well-known/jwks.json", None, None, 200, _path("/.well-known/jwks.json")),
    Case("POST", "/api/auth/logout", "other_customer", None, 204, _logout),
    Case("GET", "/api/auth/me", "technical_worker", None, 200, _path("/api/auth/me")),
    Case("GET", "/api/me/sales", "customer", "technical_worker", 200, _path("/api/me/sales")),
    Case("GET", "/api/sales", "technical_worker", "customer", 200, _path("/api/sales")),
    Case("GET", "/api/sales", "senior_management", "customer", 200, _path("/api/sales")),
    Case("GET", "/api/sales/summary", "technical_worker", "customer", 200, _path("/api/sales/summary")),
    Case("GET", "/api/sales/export", "senior_management", "customer", 200, _path("/api/sales/export")),
    Case("GET", "/api/sales/{id}/history", "senior_management", "customer", 200, _path("/api/sales/{id}/history")),
    Case("GET", "/api/sales/{id}", "customer", None, 200, _path("/api/sales/{id}")),
    Case("GET", "/api/sales/{id}", "senior_management", None, 200, _path("/api/sales/{id}")),
    Case("POST", "/api/sales", "technical_worker", "senior_management", 201, _create),
    Case("POST", "/api/sales/import", "technical_worker", "customer", 200, _import),
    Case(
        "GET", "/api/sales/{id}/current", "technical_worker", "senior_management", 200, _path("/api/sales/{id}/current")
    ),
    Case("PUT", "/api/sales/{id}", "technical_worker", "senior_management", 200, _put),
    Case("DELETE", "/api/sales/{id}", "technical_worker", "customer", 204, _delete),
    *(
        Case(
            "GET",
            f"/api/analytics/{report}",
            "senior_management",
            "technical_worker",
            200,
            _path(f"/api/analytics/{report}"),
        )
        for report in ("summary", "by-store", "by-month", "by-method", "top-items", "satisfaction", "coupons")
    ),
    Case("GET", "/api/analytics/by-day", "senior_management", "technical_worker", 200, _a_week_by_day),
    Case("GET", "/api/users", "senior_management", "technical_worker", 200, _path("/api/users")),
    Case("POST", "/api/users", "senior_management", "customer", 201, _new_staff),
    Case("POST", "/api/users/{id}/password-link", "senior_management", "technical_worker", 202, _password_link),
    Case("PATCH", "/api/users/{id}", "senior_management", "technical_worker", 200, _patch_user),
    Case("GET", "/api/ops/replication", "technical_worker", "customer", 200, _path("/api/ops/replication")),
    Case("GET", "/api/ops/replication", "senior_management", "customer", 200, _path("/api/ops/replication")),
    *(
        Case("GET", path, "senior_management", "customer", 200, _path(path))
        for path in ("/api/ops/consumers", "/api/ops/dead-letters", "/api/ops/history", "/api/ops/alerts")
    ),
    Case(
        "POST",
        "/api/ops/sales/{id}/repair",
        "technical_worker",
        "senior_management",
        200,
        _path("/api/ops/sales/{id}/repair"),
    ),
    Case(
        "GET",
        "/api/ops/sales/{id}/journey",
        "technical_worker",
        "senior_management",
        200,
        _path("/api/ops/sales/{id}/journey"),
    ),
]


def test_every_policy_row_has_a_case() -> None:
    covered = {(case.method, case.template) for case in CASES}
    missing = [f"{rule.method} {rule.path}" for rule in POLICY if (rule.method, rule.path) not in covered]
    assert not missing, f"policy rows without an integration case: {missing}"


def _id(case: Case) -> str:
    return f"{case.method} {case.template} as {case.allowed or 'anyone'}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_the_allowed_caller_gets_through(case: Case, api: Api, accounts: Accounts, customer_sale: str) -> None:
    path, kwargs = case.build(api, accounts, customer_sale)
    response = api.call(case.method, path, case.allowed, **kwargs)
    assert response.status_code == case.expect, response.text
    assert response.headers.get("x-request-id")


@pytest.mark.parametrize("case", [case for case in CASES if case.allowed is not None], ids=_id)
def test_the_refused_caller_is_stopped_at_the_gateway(
    case: Case, api: Api, accounts: Accounts, customer_sale: str
) -> None:
    path = case.template.replace("{id}", customer_sale if "sales" in case.template else "1")
    kwargs: dict[str, Any] = {}
    if case.method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    response = api.call(case.method, path, case.refused, **kwargs)
    expected = 403 if case.refused else 401
    assert response.status_code == expected, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == expected


def test_anything_not_in_the_table_is_a_404(api: Api) -> None:
    for method, path in (
        ("GET", "/api/nothing"),
        ("GET", "/internal/outbox/stats"),
        ("GET", "/api/internal/outbox/stats"),
        ("DELETE", "/api/users/1"),
        ("GET", "/api/analytics/secrets"),
    ):
        response = api.call(method, path, "senior_management")
        assert response.status_code == 404, (method, path)
        assert response.json()["title"] == "Not found"


def test_import_streams_a_file_and_answers_the_counts(api: Api) -> None:
    lines = SAMPLE_DATASET.read_text().splitlines()
    response = api.call(
        "POST",
        "/api/sales/import",
        "technical_worker",
        content="\n".join(lines).encode(),
        headers={"content-type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    counts = response.json()
    assert counts["created"] + counts["updated"] + counts["unchanged"] == len(lines)
    assert json.loads(lines[0])["_id"]


def test_answers_name_public_urls(api: Api, accounts: Accounts) -> None:
    email = accounts["customer"].email
    created = api.call("POST", "/api/sales", "technical_worker", json=sale_body(email=email))
    assert created.status_code == 201, created.text
    sale_id = created.json()["id"]
    assert created.headers["location"] == f"/api/sales/{sale_id}"
    stale = api.call("DELETE", f"/api/sales/{sale_id}", "technical_worker", headers={"if-match": '"99"'})
    assert stale.status_code == 412, stale.text
    assert stale.json()["instance"] == f"/api/sales/{sale_id}"
