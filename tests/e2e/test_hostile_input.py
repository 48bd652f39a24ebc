"""Hostile input through the gateway: injection, operator objects, broken bodies, forged tokens and
reaching for what belongs to someone else. Nothing may answer 5xx; nothing odd may be stored."""

from __future__ import annotations

import base64
import copy
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from conftest import Scenario
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from supply_common.testing.mail import token_in, wait_for_mail
from supply_common.testing.sales import sale_body
from supply_projector.domain.search import prefixes, search_key

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SQL = [
    "'; DROP TABLE sales; --",
    '" OR "1"="1',
    "x') OR ('a'='a",
    "1; SELECT SLEEP(10); --",
    "\\'; DELETE FROM sale_items WHERE 1=1; #",
    "%_\\%",
    "Robert'); DROP TABLE outbox;--",
    "<script>alert(1)</script>",
    "ünïcødé ✓ 𝄞",
]
LONG = ["x" * 101, "y" * 5000, "z" * 300_000]
OPERATORS: list[Any] = [{"$ne": None}, {"$gt": ""}, {"$where": "sleep(1000)"}, {"$regex": ".*"}, ["$in", 1]]

BASE: dict[str, Any] = sale_body(email="hostile@example.com", store="Seattle")
STRING_FIELDS: list[tuple[str | int, ...]] = [
    ("items", 0, "name"),
    ("items", 0, "tags", 0),
    ("storeLocation",),
    ("purchaseMethod",),
    ("customer", "gender"),
    ("customer", "email"),
    ("saleDate",),
]
ALL_FIELDS: list[tuple[str | int, ...]] = [
    *STRING_FIELDS,
    ("items", 0, "price"),
    ("items", 0, "quantity"),
    ("items", 0, "tags"),
    ("items",),
    ("customer", "age"),
    ("customer", "satisfaction"),
    ("customer",),
    ("couponUsed",),
]


def with_value(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(BASE)
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


def value_at(document: dict[str, Any], path: tuple[str | int, ...]) -> Any:
    found: Any = document
    for key in path:
        found = found[key]
    return found


@dataclass
class People:
    worker: str
    boss: str
    customer: str
    other: str
    customer_email: str
    other_email: str


@pytest.fixture(scope="module")
def people(shared: Scenario) -> People:
    deployment = shared.deployment
    tag = secrets.token_hex(3)
    made: dict[str, tuple[str, str]] = {}
    for name, role in (
        ("boss", "senior_management"),
        ("customer", "customer"),
        ("other", "customer"),
    ):
        email, password = f"{name}.{tag}@example.com", f"Hx-{secrets.token_urlsafe(12)}"
        deployment.create_user(email, role, password)
        made[name] = (email, password)
    tokens = {name: login(shared.gateway, *made[name]) for name in made}
    return People(
        worker=login(shared.gateway, shared.worker_email, shared.password),
        boss=tokens["boss"],
        customer=tokens["customer"],
        other=tokens["other"],
        customer_email=made["customer"][0],
        other_email=made["other"][0],
    )


def login(gateway: str, email: str, password: str) -> str:
    response = httpx.post(f"{gateway}/api/auth/login", json={"email": email, "password": password}, timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def client(shared: Scenario) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared.gateway, timeout=30) as made:
        yield made


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def no_5xx(response: httpx.Response) -> httpx.Response:
    assert response.status_code < 500, f"{response.request.method} {response.request.url}: {response.status_code}"
    return response


def table_counts(scenario: Scenario) -> dict[str, int]:
    with scenario.engine.connect() as connection:
        return {
            table: int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())  # noqa: S608
            for table in ("sales", "sale_items", "outbox")
        }


def test_sql_metacharacters_and_long_strings_are_stored_verbatim_or_refused(
    shared: Scenario, client: httpx.Client, people: People
) -> None:
    stored = refused = 0
    for path in STRING_FIELDS:
        for value in SQL + LONG:
            if path == ("customer", "email"):
                value = f'"{value[:60]}"@example.com' if value not in LONG else f"{value}@example.com"
            response = no_5xx(client.post("/api/sales", json=with_value(path, value), headers=bearer(people.worker)))
            if response.status_code != 201:
                assert 400 <= response.status_code < 500
                refused += 1
                continue
            stored += 1
            sale_id = response.json()["id"]
            back = no_5xx(client.get(f"/api/sales/{sale_id}/current", headers=bearer(people.worker)))
            assert value_at(back.json()["sale"], path) == value, f"{path} not stored verbatim"
            changed = no_5xx(
                client.put(
                    f"/api/sales/{sale_id}",
                    json=with_value(path, value + "'--"),
                    headers={**bearer(people.worker), "if-match": back.headers["etag"]},
                )
            )
            if changed.status_code == 200:
                assert value_at(changed.json()["sale"], path) == value + "'--"
    counts = table_counts(shared)
    print(f"  SQL/long values: {stored} stored verbatim, {refused} refused; tables {counts}")
    assert stored > 0
    assert refused > 0
    for value in SQL:
        for path in (f"/api/sales/{value}", f"/api/sales/{value}/current"):
            assert no_5xx(client.get(path, headers=bearer(people.worker))).status_code in (404, 422)
        search = no_5xx(client.get("/api/sales", params={"item": value}, headers=bearer(people.worker)))
        assert search.status_code in (200, 422)
        if search.status_code == 200:
            found = [entry["sale"] for entry in search.json()["items"]]  # entries are {id, version, total, sale}
            key = search_key(value)  # item search: a prefix of a word of a name, any case
            assert all(key in prefixes(i["name"] for i in sale["items"]) for sale in found)
        login_try = no_5xx(client.post("/api/auth/login", json={"email": value, "password": value}))
        assert login_try.status_code in (401, 422)


@pytest.mark.parametrize("operator", OPERATORS, ids=["ne", "gt", "where", "regex", "in-list"])
def test_mongodb_operators_in_body_fields_are_422(client: httpx.Client, people: People, operator: Any) -> None:
    for path in ALL_FIELDS:
        response = no_5xx(client.post("/api/sales", json=with_value(path, operator), headers=bearer(people.worker)))
        assert response.status_code == 422, f"{path}: {response.status_code}"
    login_try = no_5xx(client.post("/api/auth/login", json={"email": operator, "password": operator}))
    assert login_try.status_code == 422


SEARCH_PARAMS = ["store", "method", "coupon", "email", "item", "tag", "date_from", "date_to", "total_min", "total_max"]


TEXT_PARAMS = {"email", "item", "tag"}
"""Searched as text: any string the writer accepts (`$dollar@example.com`) is a value to look for."""


def test_mongodb_operators_in_query_parameters_are_422_or_plain_text(client: httpx.Client, people: People) -> None:
    routes = [
        ("/api/sales", [*SEARCH_PARAMS, "sort", "limit", "cursor"], people.worker),
        ("/api/analytics/summary", ["date_from", "date_to"], people.boss),
        ("/api/analytics/top-items", ["by", "limit"], people.boss),
        ("/api/me/sales", ["cursor", "limit"], people.customer),
    ]
    checked = 0
    for route, names, token in routes:
        for name in names:
            for value in ('{"$ne": null}', "$where", '{"$gt": ""}', "{$regex: '.*'}"):
                response = no_5xx(client.get(route, params={name: value}, headers=bearer(token)))
                if name in TEXT_PARAMS:  # compared as a string, never read as an operator: nothing matches
                    assert response.status_code == 200, f"{route}?{name}={value}: {response.status_code}"
                    assert response.json()["items"] == [], f"{route}?{name}={value} matched sales"
                else:
                    assert response.status_code == 422, f"{route}?{name}={value}: {response.status_code}"
                checked += 1
            bracket = no_5xx(client.get(f"{route}?{name}[$ne]=x", headers=bearer(token)))
            assert bracket.status_code == 422, f"{route}?{name}[$ne]: {bracket.status_code}"
            checked += 1
    print(f"  operator query parameters refused or taken as text: {checked}")


def test_broken_bodies_are_refused_without_a_5xx(client: httpx.Client, people: People) -> None:
    headers = {**bearer(people.worker), "content-type": "application/json"}
    cases: dict[str, tuple[bytes, dict[str, str], set[int]]] = {
        "malformed JSON": (b'{"saleDate": "2024-', headers, {400, 422}),
        "trailing garbage": (json.dumps(BASE).encode() + b"}}", headers, {400, 422}),
        "not UTF-8": (b'{"saleDate": "\xff\xfe\xfa"}', headers, {400, 422}),
        "deep nesting": (b"[" * 100_000 + b"]" * 100_000, headers, {400, 413, 422}),
        "deep objects": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, headers, {400, 413, 422}),
        "text/plain": (json.dumps(BASE).encode(), {**bearer(people.worker), "content-type": "text/plain"}, {415, 422}),
        "form": (
            b"saleDate=x",
            {**bearer(people.worker), "content-type": "application/x-www-form-urlencoded"},
            {415, 422},
        ),
        "no content type": (json.dumps(BASE).encode(), bearer(people.worker), {415, 422}),
        "10 MB": (b'{"items": ["' + b"a" * (10 * 1024 * 1024) + b'"]}', headers, {413}),
    }
    for name, (body, sent_headers, allowed) in cases.items():
        response = no_5xx(client.post("/api/sales", content=body, headers=sent_headers))
        assert response.status_code in allowed, f"{name}: {response.status_code} {response.text[:200]}"
    huge_login = no_5xx(
        client.post("/api/auth/login", content=b"{" + b" " * (10 * 1024 * 1024) + b"}", headers=headers)
    )
    assert huge_login.status_code == 413


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


def _fuzz(operation: Any, base_url: str, headers: dict[str, str], calls: list[int]) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

    @settings(max_examples=4, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def fuzz(case: schemathesis.Case) -> None:
        calls.append(1)
        case.call_and_validate(
            base_url=base_url,
            headers=headers,
            checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            timeout=30,
        )

    fuzz()


def test_schemathesis_finds_no_5xx_and_no_schema_violation(shared: Scenario, people: People) -> None:
    """Every operation of the gateway's OpenAPI, fuzzed with a few examples as a role it allows."""
    import schemathesis

    from supply_gateway.domain.policy import Policy

    @schemathesis.serializer("application/x-ndjson")
    def json_lines(_: Any, value: Any) -> bytes:
        records = value if isinstance(value, list) else [value]
        return "\n".join(json.dumps(record) for record in records).encode()

    policy = Policy()
    token_for = {"technical_worker": people.worker, "senior_management": people.boss, "customer": people.customer}
    schema = schemathesis.openapi.from_url(f"{shared.gateway}/openapi.json")
    calls: list[int] = []
    operations = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        rule = policy.rule(operation.method.upper(), operation.path)
        role = next((r for r in ("technical_worker", "senior_management", "customer") if rule.allows(r)), None)
        headers = bearer(token_for[role]) if role and not rule.is_public else {}
        try:
            _fuzz(operation, shared.gateway, headers, calls)
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:800]}")
    print(f"  schemathesis: {len(calls)} calls over {operations} operations, {len(failures)} failing")
    assert not failures, "\n".join(failures)
    assert operations == len(policy.rules)
    assert len(calls) >= operations


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
        digest = http.get(f"{writer}/internal/sales/digest", headers=bearer(gateway_credential))
        assert digest.status_code == 403, "the gateway's credential carries outbox:read only"
    with pytest.raises(RuntimeError, match="service credential"):
        deployment.run(
            ["mongo-projector", "reconcile"],
            env={**deployment.operator_env(), "SERVICE_TOKEN_FILE": str(deployment.work_dir / "none.jwt")},
        )
