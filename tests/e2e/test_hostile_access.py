"""Hostile callers through the gateway and around it: forged and stale tokens, reaching for what
belongs to someone else, forged identity headers on the services' own ports. Nothing may answer 5xx."""

from __future__ import annotations

import base64
import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from conftest import Scenario
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hostile import BASE, People, bearer, login, no_5xx, with_value

from supply_common.testing.mail import token_in, wait_for_mail

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _signer(scenario: Scenario) -> tuple[str, Ed25519PrivateKey]:
    keys = sorted((scenario.deployment.work_dir / "keys").glob("*.pem"))
    newest: Path = keys[-1]
    key = serialization.load_pem_private_key(newest.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return newest.stem, key


def test_forged_and_stale_tokens_are_401(shared: Scenario, client: httpx.Client, people: People) -> None:
    claims = _claims(people.customer)
    header = jwt.get_unverified_header(people.customer)
    kid, real_key = _signer(shared)
    now = int(time.time())
    head, body, signature = people.customer.split(".")
    promoted = _b64(json.dumps({**claims, "role": "senior_management"}).encode())
    forged = {
        "alg none": f"{_b64(json.dumps({'alg': 'none', 'kid': header['kid']}).encode())}."
        f"{_b64(json.dumps({**claims, 'role': 'technical_worker'}).encode())}.",
        "alg HS256 with the public key": jwt.encode(
            {**claims, "role": "senior_management"},
            real_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
            algorithm="HS256",
            headers={"kid": header["kid"]},
        ),
        "foreign key": jwt.encode(
            {**claims, "role": "senior_management"},
            Ed25519PrivateKey.generate(),
            algorithm="EdDSA",
            headers={"kid": kid},
        ),
        "modified role": f"{head}.{promoted}.{signature}",
        "expired": jwt.encode(
            {**claims, "iat": now - 3600, "exp": now - 600}, real_key, algorithm="EdDSA", headers={"kid": kid}
        ),
        "wrong audience": jwt.encode(
            {**claims, "aud": "someone-else"}, real_key, algorithm="EdDSA", headers={"kid": kid}
        ),
        "wrong issuer": jwt.encode({**claims, "iss": "evil"}, real_key, algorithm="EdDSA", headers={"kid": kid}),
        "unknown kid": jwt.encode(claims, real_key, algorithm="EdDSA", headers={"kid": "k-unknown"}),
        "garbage": "not.a.token",
    }
    assert body
    for name, token in forged.items():
        for method, path in (("GET", "/api/sales"), ("GET", "/api/analytics/summary"), ("GET", "/api/users")):
            response = no_5xx(client.request(method, path, headers=bearer(token)))
            assert response.status_code == 401, f"{name} on {path}: {response.status_code}"
    genuine = jwt.encode(claims | {"exp": now + 120}, real_key, algorithm="EdDSA", headers={"kid": kid})
    assert no_5xx(client.get("/api/me/sales", headers=bearer(genuine))).status_code == 200


def test_customers_reach_only_their_own_sales_and_no_staff_route(
    shared: Scenario, client: httpx.Client, people: People
) -> None:
    def sale_of(email: str) -> str:
        body = with_value(("customer", "email"), email)
        created = no_5xx(client.post("/api/sales", json=body, headers=bearer(people.worker)))
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    mine, theirs = sale_of(people.customer_email), sale_of(people.other_email)
    seen = no_5xx(
        client.get(f"/api/sales/{mine}", params={"min_version": 1, "wait_ms": 5000}, headers=bearer(people.customer))
    )
    assert seen.status_code == 200
    assert no_5xx(client.get(f"/api/sales/{theirs}", headers=bearer(people.customer))).status_code == 404
    own = no_5xx(client.get("/api/me/sales", headers=bearer(people.customer))).json()
    assert {sale["id"] for sale in own["items"]} == {mine}
    spoofed = {**bearer(people.customer), "x-user-email": people.other_email, "x-user-role": "senior_management"}
    assert no_5xx(client.get(f"/api/sales/{theirs}", headers=spoofed)).status_code == 404
    staff_routes = [
        ("GET", "/api/sales"),
        ("POST", "/api/sales"),
        ("GET", f"/api/sales/{mine}/current"),
        ("PUT", f"/api/sales/{mine}"),
        ("DELETE", f"/api/sales/{mine}"),
        ("POST", "/api/sales/import"),
        ("GET", "/api/analytics/summary"),
        ("GET", "/api/users"),
        ("POST", "/api/users"),
        ("GET", "/api/ops/replication"),
    ]
    for method, path in staff_routes:
        response = no_5xx(client.request(method, path, headers=bearer(people.customer), json=BASE))
        assert response.status_code == 403, f"customer {method} {path}: {response.status_code}"
    assert no_5xx(client.get("/internal/sales/digest", headers=bearer(people.boss))).status_code == 404


def test_a_technical_worker_cannot_administer_users(client: httpx.Client, people: People, shared: Scenario) -> None:
    me = no_5xx(client.get("/api/auth/me", headers=bearer(people.worker))).json()
    attempts = [
        ("GET", "/api/users", None),
        (
            "POST",
            "/api/users",
            {"email": "x@example.com", "password": "Long-enough-pw-1", "name": "x", "role": "senior_management"},
        ),
        ("PATCH", f"/api/users/{me['id']}", {"role": "senior_management"}),
        ("GET", "/api/analytics/summary", None),
    ]
    for method, path, body in attempts:
        response = no_5xx(client.request(method, path, headers=bearer(people.worker), json=body))
        assert response.status_code == 403, f"worker {method} {path}: {response.status_code}"
    assert no_5xx(client.get("/api/auth/me", headers=bearer(people.worker))).json()["role"] == "technical_worker"
    account, password = {"email": f"self.{secrets.token_hex(3)}@example.com", "name": "s"}, "Long-enough-pw-1"
    with_role = no_5xx(client.post("/api/auth/register", json={**account, "role": "senior_management"}))
    assert with_role.status_code == 422
    assert [e["field"] for e in with_role.json()["errors"]] == ["role"]
    with_password = no_5xx(client.post("/api/auth/register", json={**account, "password": password}))
    assert with_password.status_code == 422
    assert [e["field"] for e in with_password.json()["errors"]] == ["password"]
    assert no_5xx(client.post("/api/auth/register", json=account)).status_code == 202
    token = token_in(wait_for_mail(shared.deployment.mail_dir, account["email"]))
    chosen = no_5xx(client.post("/api/auth/verify-email", json={"token": token, "password": password}))
    assert chosen.status_code == 200, chosen.text
    own = login(shared.gateway, account["email"], password)
    assert no_5xx(client.get("/api/auth/me", headers=bearer(own))).json()["role"] == "customer"


def test_services_behind_the_gateway_believe_no_header_and_no_users_token_on_operator_routes(
    shared: Scenario, people: People
) -> None:
    """The review's findings, rerun on the services' own ports (reachable by anything on the host):
    forged `X-User-*` headers read analytics and wrote sales; the operator routes needed nothing."""
    deployment = shared.deployment
    writer, reads = deployment.url("sales-writer"), deployment.url("mongo-projector")
    forged = {"X-User-Id": "x", "X-User-Role": "senior_management", "X-User-Email": "x@example.com"}
    worker_headers = forged | {"X-User-Role": "technical_worker"}
    with httpx.Client(timeout=30) as http:
        assert no_5xx(http.get(f"{reads}/analytics/summary", headers=forged)).status_code == 401
        assert no_5xx(http.get(f"{reads}/sales", headers=worker_headers)).status_code == 401
        assert no_5xx(http.post(f"{writer}/sales", json=BASE, headers=worker_headers)).status_code == 401
        assert no_5xx(http.get(f"{reads}/analytics/summary", headers=bearer(people.boss))).status_code == 200
        assert no_5xx(http.post(f"{writer}/sales", json=BASE, headers=bearer(people.worker))).status_code == 201
        operator_calls = [
            ("GET", "/internal/sales/digest", None),
            ("POST", "/internal/sales/republish", {"all": True}),
            ("GET", "/internal/outbox/stats", None),
        ]
        for method, path, body in operator_calls:
            for headers in ({}, forged, bearer(people.boss), bearer(people.worker)):
                response = no_5xx(http.request(method, f"{writer}{path}", json=body, headers=headers))
                assert response.status_code == 401, f"{method} {path} with {sorted(headers)}: {response.status_code}"
                assert response.headers["content-type"].startswith("application/problem+json")
        gateway_credential = deployment.credential_path("gateway").read_text().strip()
        stats = http.get(f"{writer}/internal/outbox/stats", headers=bearer(gateway_credential))
        assert stats.status_code == 200
        reconcile_credential = deployment.credential_path("reconcile").read_text().strip()
        digest = http.get(f"{writer}/internal/sales/digest", headers=bearer(reconcile_credential))
        assert digest.status_code == 200
        stats = http.get(f"{writer}/internal/outbox/stats", headers=bearer(reconcile_credential))
        assert stats.status_code == 403, "the reconciler's credential carries no outbox:read"
    with pytest.raises(RuntimeError, match="service credential"):
        deployment.run(
            ["mongo-projector", "reconcile"],
            env={**deployment.operator_env(), "SERVICE_TOKEN_FILE": str(deployment.work_dir / "none.jwt")},
        )
