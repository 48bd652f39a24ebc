"""`GET /api/ops/sales/{id}/journey`: the writer's outbox and the copy's applied version as one view,
with links to each change's trace when a trace viewer is configured."""

from __future__ import annotations

import httpx

from supply_gateway.config import GatewaySettings

from .app_support import SIGNER, bearer, running, with_cookies

SALE = "5bd761dcae323e45a93ccfe8"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
WRITER_ANSWER = {
    "sale_id": SALE,
    "version": 2,
    "deleted_version": None,
    "outbox_retention_s": 86400,
    "events": [
        {
            "outbox_id": 7,
            "event_type": "sale.created",
            "version": 1,
            "repair": False,
            "committed_at": "2026-01-01T10:00:00.000Z",
            "published_at": "2026-01-01T10:00:00.012Z",
            "partition": 2,
            "offset": 40,
            "trace_id": TRACE,
        },
        {
            "outbox_id": 9,
            "event_type": "sale.updated",
            "version": 2,
            "repair": False,
            "committed_at": "2026-01-01T10:05:00.000Z",
            "published_at": "2026-01-01T10:05:00.020Z",
            "partition": 2,
            "offset": 41,
            "trace_id": None,
        },
    ],
}
COPY_ANSWER = {
    "sale_id": SALE,
    "version": 2,
    "applied_at": "2026-01-01T10:05:00.050Z",
    "occurred_at": "2026-01-01T10:05:00.000Z",
    "event_id": "e",
    "deleted_version": None,
    "deleted_applied_at": None,
}


def _answering(upstreams, writer=WRITER_ANSWER, copy=COPY_ANSWER) -> None:
    upstreams.handlers[f"GET sales-writer/internal/sales/{SALE}/journey"] = lambda r: httpx.Response(200, json=writer)
    upstreams.handlers[f"GET projector/sales/{SALE}/applied"] = lambda r: httpx.Response(200, json=copy)


async def test_each_change_is_committed_published_and_applied_with_its_trace() -> None:
    settings = GatewaySettings(trace_ui_url="http://127.0.0.1:16686/")
    async with running(settings) as (client, upstreams, _):
        _answering(upstreams)
        answer = await client.get(f"/api/ops/sales/{SALE}/journey", headers=bearer("technical_worker"))
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    journey = answer.json()
    assert journey["stage"] == "applied"
    assert journey["version"] == 2
    first, second = journey["steps"]
    assert (first["partition"], first["offset"], first["publish_ms"]) == (2, 40, 12.0)
    assert first["applied"] is True
    assert first["applied_at"] is None  # the copy has moved on: when it applied version 1 is not kept
    assert first["trace_url"] == f"http://127.0.0.1:16686/trace/{TRACE}"
    assert (second["applied_at"], second["apply_ms"]) == ("2026-01-01T10:05:00.050Z", 30.0)
    assert second["trace_url"] is None
    assert journey["errors"] == []


async def test_a_change_not_yet_applied_and_a_copy_that_does_not_answer(gateway) -> None:
    client, upstreams = gateway
    _answering(upstreams, copy={**COPY_ANSWER, "version": 1, "applied_at": "2026-01-01T10:00:00.030Z"})
    journey = (await client.get(f"/api/ops/sales/{SALE}/journey", headers=bearer("technical_worker"))).json()
    assert journey["stage"] == "published"
    assert [step["applied"] for step in journey["steps"]] == [True, False]
    assert journey["steps"][0]["trace_url"] is None  # no trace viewer configured

    upstreams.down.add("projector")
    journey = (await client.get(f"/api/ops/sales/{SALE}/journey", headers=bearer("technical_worker"))).json()
    assert journey["copy_state"] is None
    assert [e["source"] for e in journey["errors"]] == ["projector"]
    assert journey["steps"][1]["published_at"] == "2026-01-01T10:05:00.020Z"


async def test_only_technical_workers_and_only_known_sales(gateway) -> None:
    client, upstreams = gateway
    nothing = {"sale_id": SALE, "version": None, "deleted_version": None, "events": [], "outbox_retention_s": 1}
    _answering(upstreams, writer=nothing, copy={k: (SALE if k == "sale_id" else None) for k in COPY_ANSWER})
    path = f"/api/ops/sales/{SALE}/journey"
    assert (await client.get(path, headers=bearer("technical_worker"))).status_code == 404
    assert (await client.get(path, headers=bearer("senior_management"))).status_code == 403
    assert (await client.get(path, headers=bearer("customer"))).status_code == 403
    assert (
        await client.get("/api/ops/sales/not-a-sale/journey", headers=bearer("technical_worker"))
    ).status_code == 404


async def test_the_journey_page_shows_each_step_to_a_technical_worker(gateway) -> None:
    client, upstreams = gateway
    _answering(upstreams)
    worker = {"sg_access": SIGNER.token("technical_worker", sub="w1")}
    page = await with_cookies(client, "GET", f"/sales/{SALE}/journey", worker)
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert 'id="sale-journey"' in text
    assert "The copy holds the latest change (version 2)." in text
    assert "2 / 40" in text
    assert "2 / 41" in text
    assert "+12.0 ms" in text
    assert "+30.0 ms" in text
    assert "yes (since replaced)" in text

    manager = {"sg_access": SIGNER.token("senior_management", sub="m1")}
    assert (await with_cookies(client, "GET", f"/sales/{SALE}/journey", manager)).status_code == 403


async def test_a_copy_that_took_the_change_before_the_relay_read_its_acknowledgment(gateway) -> None:
    """The relay stamps a change published once it reads the broker's acknowledgment; the copy can
    take it from the broker first. The delay is given as it is, and the page says so instead of
    showing a negative one."""
    client, upstreams = gateway
    _answering(upstreams, copy={**COPY_ANSWER, "applied_at": "2026-01-01T10:05:00.015Z"})
    journey = (await client.get(f"/api/ops/sales/{SALE}/journey", headers=bearer("technical_worker"))).json()
    assert journey["steps"][1]["apply_ms"] == -5.0
    worker = {"sg_access": SIGNER.token("technical_worker", sub="w1")}
    text = " ".join((await with_cookies(client, "GET", f"/sales/{SALE}/journey", worker)).text.split())
    assert "(ahead of the relay's acknowledgment)" in text
    assert "+-" not in text
