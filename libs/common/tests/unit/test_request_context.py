"""Request ids and request metrics, as every service's app records them."""

from __future__ import annotations

import re

import httpx
from fastapi import HTTPException
from prometheus_client import REGISTRY

from supply_common.web import create_app


def _client() -> httpx.AsyncClient:
    app = create_app(service="context-test", title="test")

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        if item_id == 0:
            raise HTTPException(404, "no such item")
        return {"id": item_id}

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _count(route: str, status: str) -> float:
    labels = {"service": "context-test", "method": "GET", "route": route, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def _timed(route: str) -> float:
    labels = {"service": "context-test", "method": "GET", "route": route}
    return REGISTRY.get_sample_value("http_request_duration_seconds_count", labels) or 0.0


async def test_a_request_id_is_made_or_kept() -> None:
    async with _client() as client:
        made = (await client.get("/items/1")).headers["x-request-id"]
        kept = (await client.get("/items/1", headers={"x-request-id": "order-17.retry:2"})).headers["x-request-id"]
        replaced = (await client.get("/items/1", headers={"x-request-id": "<script>"})).headers["x-request-id"]
        again = (await client.get("/items/1")).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert kept == "order-17.retry:2"
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)
    assert again != made


async def test_requests_are_counted_by_route_template_and_status() -> None:
    route = "/items/{item_id}"
    before_ok, before_missing, before_timed = _count(route, "200"), _count(route, "404"), _timed(route)
    async with _client() as client:
        for path in ("/items/1", "/items/2", "/items/0", "/items/3"):
            await client.get(path)
    assert _count(route, "200") - before_ok == 3
    assert _count(route, "404") - before_missing == 1
    assert _timed(route) - before_timed == 4
