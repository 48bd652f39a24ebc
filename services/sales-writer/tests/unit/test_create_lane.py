"""Which lane answers `POST /sales`: `CreateLane` only for a valid, unkeyed JSON create from an allowed
role; everything else reaches the route's own handler and therefore gets its usual answer. The lane
sits inside the shared middleware, so request ids, metrics and body limits apply to both."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

import pymysql
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Response
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from starlette.middleware import Middleware

from supply_common.callers import RoleCheck
from supply_common.contract import Actor, SaleBody
from supply_common.identity import Identity
from supply_common.problems import ProblemError
from supply_common.testing.sales import sale_body
from supply_common.testing.tokens import ISSUER_FOR_TESTS as ISSUER
from supply_common.web import HTTP_REQUESTS, create_app
from supply_sales_writer.entrypoints.create_lane import CreateLane

WRITER = RoleCheck("technical_worker")
WORKER = ISSUER.bearer("technical_worker", sub="worker-1")
SERVICE = "lane-test"
BODY = sale_body(saleDate="2024-05-01T10:00:00.123456+02:00")


class Lanes:
    def __init__(self) -> None:
        self.fast: list[tuple[SaleBody, Actor]] = []
        self.standard: list[tuple[SaleBody, str | None]] = []
        self.fail_with: Exception | None = None


@pytest.fixture
def lanes() -> Lanes:
    return Lanes()


def _app(lanes: Lanes, max_body_bytes: int = 1_048_576) -> FastAPI:
    tokens = ISSUER.verifier()

    async def fast(body: SaleBody, actor: Actor) -> Response:
        if lanes.fail_with is not None:
            raise lanes.fail_with
        lanes.fast.append((body, actor))
        return Response(status_code=201, headers={"X-Lane": "fast"})

    async def create(
        body: SaleBody,
        identity: Annotated[Identity, Depends(WRITER)],
        key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> Response:
        lanes.standard.append((body, key))
        return Response(status_code=201, headers={"X-Lane": "standard"})

    router = APIRouter()
    router.add_api_route("/sales", create, methods=["POST"], status_code=201)
    app = create_app(
        service=SERVICE,
        title="lane",
        max_body_bytes=max_body_bytes,
        inner_middleware=[Middleware(CreateLane, policy=WRITER, tokens=tokens, create=fast)],
    )
    app.state.tokens = tokens
    app.include_router(router)
    return app


@pytest.fixture
def client(lanes: Lanes) -> Iterator[TestClient]:
    with TestClient(_app(lanes)) as client:  # an exception escaping the app fails the test
        yield client


def test_a_valid_unkeyed_create_is_answered_by_the_lane_with_the_validated_sale(
    client: TestClient, lanes: Lanes
) -> None:
    response = client.post("/sales", json=BODY, headers=WORKER)
    assert (response.status_code, response.headers["X-Lane"]) == (201, "fast")
    ((body, actor),) = lanes.fast
    assert body == SaleBody.model_validate(BODY)
    assert body.saleDate.isoformat() == "2024-05-01T08:00:00.123000+00:00"
    assert actor == Actor(user_id="worker-1", role="technical_worker")
    assert lanes.standard == []


def test_a_body_sent_in_chunks_is_read_whole(client: TestClient, lanes: Lanes) -> None:
    encoded = json.dumps(BODY).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(encoded), 17):
            yield encoded[start : start + 17]

    response = client.post("/sales", content=chunks(), headers=WORKER | {"Content-Type": "application/json"})
    assert (response.status_code, response.headers["X-Lane"]) == (201, "fast")
    assert lanes.fast[0][0] == SaleBody.model_validate(BODY)


def test_a_keyed_create_goes_to_the_route_handler(client: TestClient, lanes: Lanes) -> None:
    response = client.post("/sales", json=BODY, headers=WORKER | {"Idempotency-Key": "k-1"})
    assert (response.status_code, response.headers["X-Lane"]) == (201, "standard")
    assert [key for _, key in lanes.standard] == ["k-1"]
    assert lanes.fast == []


@pytest.mark.parametrize(
    ("headers", "body", "status", "field"),
    [
        ({}, BODY, 401, None),
        ({"X-User-Id": "w-1", "X-User-Role": "technical_worker"}, BODY, 401, None),
        (ISSUER.bearer("customer"), BODY, 403, None),
        (ISSUER.bearer("senior_management"), BODY, 403, None),
        (ISSUER.bearer("admin"), BODY, 401, None),
        (ISSUER.bearer("technical_worker", exp=1), BODY, 401, None),
        (WORKER, BODY | {"storeLocation": "Paris"}, 422, "storeLocation"),
        (WORKER, BODY | {"_id": "5bd761dcae323e45a93ccfe8"}, 422, "_id"),
        (WORKER, BODY | {"saleDate": "9999-12-31T23:00:00-05:00"}, 422, "saleDate"),
        (WORKER, BODY | {"saleDate": 0}, 422, "saleDate"),
        (WORKER, "[1, 2", 422, None),
        (WORKER, "", 422, None),
    ],
    ids=[
        "anonymous",
        "forged identity headers",
        "customer",
        "manager",
        "unknown role",
        "expired",
        "bad store",
        "own _id",
        "date at the calendar's end",
        "date as a number",
        "broken",
        "empty",
    ],
)
@pytest.mark.timeout(20)  # a body the lane read and did not hand on leaves the route waiting for it
def test_refusals_are_the_route_handlers_own(
    client: TestClient, lanes: Lanes, headers: dict[str, str], body: Any, status: int, field: str | None
) -> None:
    if isinstance(body, str):
        response = client.post("/sales", content=body, headers=headers | {"Content-Type": "application/json"})
    else:
        response = client.post("/sales", json=body, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    if field is not None:  # the route read the body the lane had already read
        assert field in [error["field"] for error in response.json()["errors"]]
    assert lanes.fast == []
    assert lanes.standard == []


def test_a_body_that_is_not_declared_json_goes_to_the_route_handler(client: TestClient, lanes: Lanes) -> None:
    response = client.post("/sales", content=json.dumps(BODY), headers=WORKER | {"Content-Type": "text/plain"})
    assert response.status_code == 422  # FastAPI reads only JSON-typed bodies as JSON
    assert lanes.fast == []
    assert lanes.standard == []


def test_other_paths_and_methods_reach_the_router(client: TestClient, lanes: Lanes) -> None:
    assert client.get("/sales", headers=WORKER).status_code == 405
    assert client.post("/sales/", json=BODY, headers=WORKER, follow_redirects=False).status_code == 307
    assert client.get("/livez").json() == {"status": "alive"}
    assert lanes.fast == []


@pytest.mark.parametrize(
    ("error", "status", "title"),
    [
        (ProblemError(412, "Version mismatch", "stale", headers={"ETag": '"3"'}), 412, "Version mismatch"),
        (
            OperationalError("INSERT", {}, pymysql.err.OperationalError(2003, "Can't connect")),
            503,
            "Service unavailable",
        ),
        (RuntimeError("boom"), 500, "Internal error"),
    ],
    ids=["problem", "database unreachable", "unexpected"],
)
def test_an_error_while_creating_is_answered_as_the_apps_handlers_answer_it(
    client: TestClient, lanes: Lanes, error: Exception, status: int, title: str
) -> None:
    lanes.fail_with = error
    response = client.post("/sales", json=BODY, headers=WORKER)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert (response.json()["title"], response.json()["instance"]) == (title, "/sales")
    if status == 503:
        assert response.headers["Retry-After"] == "2"
    # the same error raised by a route is answered the same way
    assert client.post("/sales", json=BODY, headers=WORKER | {"Idempotency-Key": "k"}).status_code == 201


def test_the_shared_middleware_applies_to_the_lane(client: TestClient, lanes: Lanes) -> None:
    def answered() -> float:
        value = HTTP_REQUESTS.labels(SERVICE, "POST", "/sales", "201")._value.get()
        return float(value)

    before = answered()
    response = client.post("/sales", json=BODY, headers=WORKER | {"X-Request-Id": "req-42"})
    assert response.headers["X-Lane"] == "fast"
    assert response.headers["x-request-id"] == "req-42"
    assert answered() == before + 1


def test_a_body_over_the_limit_is_refused_before_the_lane_reads_it(lanes: Lanes) -> None:
    with TestClient(_app(lanes, max_body_bytes=100)) as client:
        response = client.post("/sales", json=BODY, headers=WORKER)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert lanes.fast == lanes.standard == []
