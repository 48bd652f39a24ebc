"""Which lane of `POST /sales` answers: the fast one only for a valid, unkeyed JSON create from an
allowed role; everything else gets the route's own handler and therefore its usual answer."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Response
from fastapi.testclient import TestClient

from supply_common.contract import Actor, SaleBody
from supply_common.identity import Identity, RoleCheck
from supply_common.web import install_problem_handlers
from supply_sales_writer.entrypoints.create_route import create_route_class

WRITER = RoleCheck("technical_worker")
WORKER = {"X-User-Id": "worker-1", "X-User-Role": "technical_worker"}
BODY = {
    "saleDate": "2024-05-01T10:00:00.123456+02:00",
    "items": [{"name": "pens", "tags": ["office"], "price": "2.50", "quantity": 3}],
    "storeLocation": "Denver",
    "customer": {"gender": "F", "age": 40, "email": "x@example.org", "satisfaction": 5},
    "couponUsed": False,
    "purchaseMethod": "Online",
}


class Lanes:
    def __init__(self) -> None:
        self.fast: list[tuple[SaleBody, Actor]] = []
        self.standard: list[tuple[SaleBody, str | None]] = []


@pytest.fixture
def lanes() -> Lanes:
    return Lanes()


@pytest.fixture
def client(lanes: Lanes) -> TestClient:
    async def fast(body: SaleBody, actor: Actor) -> Response:
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
    router.add_api_route(
        "/sales", create, methods=["POST"], status_code=201, route_class_override=create_route_class(WRITER, fast)
    )
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    return TestClient(app)


def test_a_valid_unkeyed_create_is_answered_by_the_fast_lane_with_the_validated_sale(
    client: TestClient, lanes: Lanes
) -> None:
    response = client.post("/sales", json=BODY, headers=WORKER)
    assert (response.status_code, response.headers["X-Lane"]) == (201, "fast")
    ((body, actor),) = lanes.fast
    assert body == SaleBody.model_validate(BODY)
    assert body.saleDate.isoformat() == "2024-05-01T08:00:00.123000+00:00"
    assert actor == Actor(user_id="worker-1", role="technical_worker")
    assert lanes.standard == []


def test_a_keyed_create_goes_to_the_route_handler(client: TestClient, lanes: Lanes) -> None:
    response = client.post("/sales", json=BODY, headers=WORKER | {"Idempotency-Key": "k-1"})
    assert (response.status_code, response.headers["X-Lane"]) == (201, "standard")
    assert [key for _, key in lanes.standard] == ["k-1"]
    assert lanes.fast == []


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, BODY, 401),
        ({"X-User-Role": "technical_worker"}, BODY, 401),
        ({"X-User-Id": "c-1", "X-User-Role": "customer"}, BODY, 403),
        ({"X-User-Id": "m-1", "X-User-Role": "senior_management"}, BODY, 403),
        ({"X-User-Id": "x-1", "X-User-Role": "admin"}, BODY, 401),
        (WORKER, BODY | {"storeLocation": "Paris"}, 422),
        (WORKER, BODY | {"_id": "5bd761dcae323e45a93ccfe8"}, 422),
        (WORKER, "[1, 2", 422),
        (WORKER, "", 422),
    ],
    ids=["anonymous", "no user id", "customer", "manager", "unknown role", "bad store", "own _id", "broken", "empty"],
)
def test_refusals_are_the_route_handlers_own(
    client: TestClient, lanes: Lanes, headers: dict[str, str], body: Any, status: int
) -> None:
    if isinstance(body, str):
        response = client.post("/sales", content=body, headers=headers | {"Content-Type": "application/json"})
    else:
        response = client.post("/sales", json=body, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert lanes.fast == []
    assert lanes.standard == []


def test_a_body_that_is_not_declared_json_goes_to_the_route_handler(client: TestClient, lanes: Lanes) -> None:
    response = client.post("/sales", content=json.dumps(BODY), headers=WORKER | {"Content-Type": "text/plain"})
    assert response.status_code == 422  # FastAPI reads only JSON-typed bodies as JSON
    assert lanes.fast == []
    assert lanes.standard == []
