"""The public API through the gateway: policy, identity, forwarding, upstream failures, limits, headers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from supply_gateway.config import GatewaySettings

from .app_support import GATEWAY_CREDENTIAL, SIGNER, bearer, problem_reply, running, with_cookies
from .tokens_support import unsigned


async def test_upstreams_get_the_verified_token_and_never_the_clients_identity_headers(gateway) -> None:
    client, upstreams = gateway
    token = bearer("technical_worker", sub="9", email="w@x.io")
    response = await client.get(
        "/api/sales",
        headers={
            **token,
            "X-User-Role": "senior_management",
            "X-User-Id": "1",
            "X-Request-ID": "req-123",
        },
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-123"
    sent = upstreams.seen[-1]
    assert not any(name.startswith("x-user-") for name in sent.headers)
    assert sent.headers["authorization"] == token["authorization"], "the upstream verifies the same token"
    assert sent.headers["x-request-id"] == "req-123"


async def test_query_and_etag_pass_through(gateway) -> None:
    client, upstreams = gateway
    response = await client.get(
        "/api/sales/5bd761dcae323e45a93ccfe8/current?x=1%202", headers=bearer("technical_worker")
    )
    assert response.headers["etag"] == '"4"'
    assert str(upstreams.seen[-1].url).endswith("/sales/5bd761dcae323e45a93ccfe8?x=1%202")


async def test_refusals(gateway) -> None:
    client, _ = gateway
    assert (await client.get("/api/sales")).status_code == 401
    assert (await client.get("/api/sales", headers=bearer("customer"))).status_code == 403
    assert (await client.get("/api/nope", headers=bearer("customer"))).status_code == 404
    assert (await client.get("/internal/outbox/stats")).status_code == 404
    forged = unsigned(
        {"sub": "1", "role": "senior_management", "iss": "supply-store-auth", "aud": "supply-store", "exp": 9999999999}
    )
    response = await client.get("/api/users", headers={"authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_upstream_down_is_a_503_and_opens_the_circuit(gateway) -> None:
    client, upstreams = gateway
    upstreams.down.add("projector")
    for _ in range(2):
        response = await client.get("/api/sales", headers=bearer("senior_management"))
        assert response.status_code == 503
    calls = len(upstreams.seen)
    response = await client.get("/api/sales", headers=bearer("senior_management"))
    assert response.status_code == 503
    problem = response.json()
    assert problem["type"] == "urn:supply-store:problem:circuit-open"
    assert problem["route_class"] == "sale_reads"
    assert problem["detail"].startswith("Reading sales is not available right now")
    assert not {"circuit", "projector"} & set(problem["detail"].lower().split()), "no internal words for people"
    assert len(upstreams.seen) == calls, "an open circuit does not call the upstream"
    assert int(response.headers["retry-after"]) >= 1


async def test_only_gets_are_retried(gateway) -> None:
    client, upstreams = gateway
    upstreams.down.add("sales-writer")
    await client.get("/api/sales/abc/current", headers=bearer("technical_worker"))
    assert sum(1 for r in upstreams.seen if r.url.path == "/sales/abc") == 2
    upstreams.seen.clear()
    await client.put("/api/sales/abc", headers=bearer("technical_worker"), json={})
    assert sum(1 for r in upstreams.seen if r.url.path == "/sales/abc") == 1


async def test_a_slow_upstream_is_a_504(gateway) -> None:
    client, upstreams = gateway
    upstreams.slow.add("projector")
    response = await client.get("/api/me/sales", headers=bearer("customer"))
    assert response.status_code == 504


async def test_login_is_rate_limited_per_address(gateway) -> None:
    client, _ = gateway
    statuses = [(await client.post("/api/auth/login", json={})).status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3] == 429


async def test_security_headers_are_on_every_response(gateway) -> None:
    client, _ = gateway
    for path in ("/login", "/api/nope", "/static/app.css", "/livez"):
        response = await client.get(path)
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"


async def test_replication_is_one_object(gateway) -> None:
    client, upstreams = gateway
    upstreams.handlers["GET sales-writer/internal/outbox/stats"] = lambda r: httpx.Response(
        200, json={"backlog": 3, "oldest_unpublished_age_s": 1.5, "relay": "ok", "last_published_at": None}
    )
    upstreams.handlers["GET projector/freshness"] = lambda r: httpx.Response(
        200,
        json={
            "partitions": [
                {
                    "partition": 0,
                    "committed_offset": 5,
                    "end_offset": 7,
                    "lag": 2,
                    "last_occurred_at": "2024-01-01T00:00:00.000Z",
                },
                {"partition": 1, "committed_offset": 1, "end_offset": 1, "lag": 0, "last_occurred_at": None},
            ],
            "dlq_count": 1,
            "quarantined": 0,
        },
    )
    worker = bearer("technical_worker")
    body = (await client.get("/api/ops/replication", headers=worker)).json()
    assert body["status"] == "ok"
    sent = {request.url.path: request.headers["authorization"] for request in upstreams.seen[-2:]}
    assert sent == {
        "/internal/outbox/stats": f"Bearer {GATEWAY_CREDENTIAL}",
        "/freshness": worker["authorization"],
    }, "the operator route gets the gateway's own credential, the user's route the user's token"
    assert body["outbox"]["backlog"] == 3
    assert body["consumer"]["lag"] == 2
    assert body["dlq_count"] == 1
    assert body["freshness"]["last_applied_occurred_at"] == "2024-01-01T00:00:00.000Z"
    upstreams.down.add("projector")
    body = (await client.get("/api/ops/replication", headers=bearer("technical_worker"))).json()
    assert body["status"] == "partial"
    assert body["errors"][0]["source"] == "projector"


async def test_openapi_lists_public_paths_with_roles(gateway) -> None:
    client, _ = gateway
    document = (await client.get("/openapi.json")).json()
    assert document["paths"]["/api/users"]["post"]["x-roles"] == "senior_management"
    assert "senior_management" in document["paths"]["/api/users"]["post"]["description"]
    assert "/api/sales/{id}" in document["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "/api/ops/replication" in docs.text


async def test_bodies_over_the_limit_are_refused(gateway) -> None:
    client, _ = gateway
    response = await client.post("/api/sales", content=b"x" * 1_100_000, headers=bearer("technical_worker"))
    assert response.status_code == 413


async def test_large_bodies_and_answers_pass_through_whole(gateway) -> None:
    client, upstreams = gateway
    upload = bytes(range(256)) * (2 * 1024 * 1024 // 256 + 7)
    answer = b"[" + b"0," * 400_000 + b"0]"
    received: list[bytes] = []

    def import_sales(request: httpx.Request) -> httpx.Response:
        received.append(request.content)
        return httpx.Response(200, content=answer, headers={"content-type": "application/json"})

    upstreams.handlers["POST sales-writer/sales/import"] = import_sales
    response = await client.post(
        "/api/sales/import",
        content=upload,
        headers={**bearer("technical_worker"), "content-type": "application/x-ndjson"},
    )
    assert response.status_code == 200
    assert received == [upload]
    assert response.content == answer
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]


async def test_an_upstream_cookie_is_not_kept_for_later_callers(gateway) -> None:
    client, upstreams = gateway
    upstreams.handlers["GET projector/me/sales"] = lambda request: httpx.Response(
        200, json=[], headers={"set-cookie": "upstream-session=abc; Path=/"}
    )
    await client.get("/api/me/sales", headers=bearer("customer"))
    await client.get("/api/me/sales", headers=bearer("customer"))
    assert "cookie" not in upstreams.seen[-1].headers


async def test_methods_outside_the_api_are_405_problems(gateway) -> None:
    client, upstreams = gateway
    for method, path in (("OPTIONS", "/api/sales"), ("POST", "/.well-known/jwks.json")):
        response = await client.request(method, path, headers=bearer("technical_worker"))
        assert response.status_code == 405
        assert response.headers["content-type"] == "application/problem+json"
        assert method not in response.headers["allow"]
        assert response.headers["x-content-type-options"] == "nosniff"
    assert not upstreams.seen


async def test_cors_covers_the_api_when_configured() -> None:
    async with running(GatewaySettings(cors_origins="https://shop.example")) as (client, _, _):
        preflight = await client.options(
            "/api/sales",
            headers={"origin": "https://shop.example", "access-control-request-method": "POST"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
        response = await client.post(
            "/api/sales", json={}, headers={**bearer("technical_worker"), "origin": "https://shop.example"}
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://shop.example"
        assert "x-request-id" in response.headers["access-control-expose-headers"]
        foreign = await client.get("/api/sales", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in foreign.headers


async def test_a_chunked_body_over_the_limit_is_a_413_not_an_error(gateway, caplog) -> None:
    client, upstreams = gateway

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 100_000

    response = await client.post("/api/sales", content=chunks(), headers=bearer("technical_worker"))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert not [r for r in upstreams.seen if r.url.path == "/sales"]


async def test_an_unexpected_failure_is_a_500_problem(gateway, monkeypatch, caplog) -> None:
    client, _ = gateway

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("supply_gateway.entrypoints.proxy.credentials", broken)
    response = await client.get("/api/sales", headers=bearer("technical_worker"))
    assert response.status_code == 500
    assert response.json()["title"] == "Internal error"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert any(r.levelname == "ERROR" and "unhandled" in r.getMessage() for r in caplog.records)


async def test_a_client_cannot_pick_its_address_behind_a_proxy() -> None:
    settings = GatewaySettings(trust_forwarded_for=True, rate_credentials_burst=3)
    async with running(settings) as (client, upstreams, _):
        statuses = []
        for attempt in range(4):
            response = await client.post(
                "/api/auth/login", json={}, headers={"x-forwarded-for": f"10.9.9.{attempt}, 203.0.113.5"}
            )
            statuses.append(response.status_code)
        assert statuses == [200, 200, 200, 429], "a made-up first entry does not earn a new budget"
        assert upstreams.seen[-1].headers["x-forwarded-for"] == "203.0.113.5"


async def test_listed_proxies_are_walked_past_from_the_right() -> None:
    settings = GatewaySettings(trust_forwarded_for=True, trusted_proxies="127.0.0.1, 10.0.0.0/8")
    async with running(settings) as (client, upstreams, _):
        await client.post("/api/auth/login", json={}, headers={"x-forwarded-for": "6.6.6.6, 203.0.113.5, 10.1.1.1"})
        assert upstreams.seen[-1].headers["x-forwarded-for"] == "203.0.113.5"


async def test_answers_name_public_urls_not_upstream_paths(gateway) -> None:
    client, upstreams = gateway
    sale = "5bd761dcae323e45a93ccfe8"
    upstreams.handlers["POST sales-writer/sales"] = lambda r: httpx.Response(
        201, json={"id": sale}, headers={"location": f"/sales/{sale}", "content-location": f"/sales/{sale}"}
    )
    created = await client.post("/api/sales", json={}, headers=bearer("technical_worker"))
    assert created.status_code == 201
    assert created.headers["location"] == f"/api/sales/{sale}"
    assert created.headers["content-location"] == f"/api/sales/{sale}"

    def problem(status: int, instance: str) -> Callable[[httpx.Request], httpx.Response]:
        return problem_reply(status, "Nope", type="about:blank", detail="no", instance=instance)

    upstreams.handlers[f"PUT sales-writer/sales/{sale}"] = problem(412, f"/sales/{sale}")
    upstreams.handlers["PATCH auth/users/7"] = problem(409, "/users/7")
    upstreams.handlers["GET projector/analytics/summary"] = problem(422, "/internal/somewhere")
    answers = [
        await client.put(f"/api/sales/{sale}", json={}, headers=bearer("technical_worker")),
        await client.patch("/api/users/7", json={}, headers=bearer("senior_management")),
        await client.get("/api/analytics/summary", headers=bearer("senior_management")),
    ]
    assert [a.json()["instance"] for a in answers] == [f"/api/sales/{sale}", "/api/users/7", "/api/analytics/summary"]
    assert [a.status_code for a in answers] == [412, 409, 422]
    assert all(a.json()["title"] == "Nope" for a in answers)
    assert all(int(a.headers["content-length"]) == len(a.content) for a in answers)

    upstreams.handlers["POST sales-writer/sales"] = lambda r: httpx.Response(
        201, json={}, headers={"location": "http://elsewhere:9/internal/x"}
    )
    created = await client.post("/api/sales", json={}, headers=bearer("technical_worker"))
    assert "location" not in created.headers, "a location with no public route is left out"


async def test_token_and_personal_answers_say_no_store(gateway) -> None:
    client, upstreams = gateway
    for route in ("GET auth/me", "GET projector/me/sales", "GET auth/users", "POST auth/login", "POST auth/refresh"):
        upstreams.handlers[route] = lambda r: httpx.Response(200, json={}, headers={"cache-control": "max-age=60"})
    answers = {
        "/api/auth/me": await client.get("/api/auth/me", headers=bearer("customer")),
        "/api/me/sales": await client.get("/api/me/sales", headers=bearer("customer")),
        "/api/users": await client.get("/api/users", headers=bearer("senior_management")),
        "/api/auth/login": await client.post("/api/auth/login", json={}),
        "/api/auth/refresh": await client.post("/api/auth/refresh", json={}),
        "/api/auth/register": await client.post("/api/auth/register", json={}),
        "/api/users POST": await client.post("/api/users", json={}, headers=bearer("senior_management")),
    }
    assert {path: answer.headers.get("cache-control") for path, answer in answers.items()} == dict.fromkeys(
        answers, "no-store"
    )
    assert (await client.get("/.well-known/jwks.json")).headers.get("cache-control") != "no-store"
    for role, page in (("senior_management", "/staff"), ("customer", "/purchases"), ("customer", "/login")):
        answer = await with_cookies(client, "GET", page, {"sg_access": SIGNER.token(role)})
        assert answer.headers["cache-control"] == "no-store", page


async def test_request_headers_beyond_the_limits_are_431() -> None:
    async with running(GatewaySettings(max_header_count=50, max_header_bytes=4096)) as (client, upstreams, _):
        many = [(f"x-h{i}", "1") for i in range(60)]
        large = {"x-large": "a" * 5000}
        for path in ("/api/sales", "/login"):
            for headers in (many, large):
                refused = await client.get(path, headers=headers)
                assert refused.status_code == 431, path
                assert refused.headers["content-type"] == "application/problem+json"
                assert refused.headers["x-content-type-options"] == "nosniff"
        assert not upstreams.seen
        assert (await client.get("/api/sales", headers=bearer("technical_worker"))).status_code == 200


async def test_one_users_expensive_calls_are_capped_and_others_are_not() -> None:
    async with running(GatewaySettings(expensive_calls_per_user=1)) as (client, _, core):
        core.expensive.try_acquire("busy")  # one call of this user is under way
        busy = bearer("senior_management", sub="busy")
        refused = await client.get("/api/analytics/summary", headers=busy)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["type"] == "urn:supply-store:problem:too-many-at-once"
        assert (await client.get("/api/sales", headers=busy)).status_code == 429, "a search is expensive too"
        assert (await client.get("/api/users", headers=busy)).status_code == 200, "other calls are not capped"
        other = bearer("senior_management", sub="other")
        assert (await client.get("/api/analytics/summary", headers=other)).status_code == 200
        core.expensive.release("busy")
        assert (await client.get("/api/analytics/summary", headers=busy)).status_code == 200
        assert core.expensive.in_flight("busy") == 0, "a finished call gives its slot back"
