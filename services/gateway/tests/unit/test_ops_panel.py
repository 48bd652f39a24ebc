"""The replication panel's parts: alerts and the last hour from a Prometheus (a small real HTTP server
speaking its JSON answers), the consumer group and the dead letters from the projector, the repair
of one sale; each part shows, or says that its source is down, on its own."""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest

from supply_gateway.config import GatewaySettings
from supply_gateway.entrypoints.web.ops import sparkline
from supply_gateway.service_layer.operations import MEASURES, firing

from ..prometheus_support import ALERTS, FakePrometheus
from .app_support import GATEWAY_CREDENTIAL, SIGNER, Upstreams, bearer, running, with_cookies

SALE = "5bd761dcae323e45a93ccfe8"
NOW = 1_796_000_000
LAG = MEASURES[0].query
APPLIED = MEASURES[1].query


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    made = FakePrometheus()
    yield made
    made.close()


def projector_answers(upstreams: Upstreams) -> None:
    upstreams.handlers["GET sales-writer/internal/outbox/stats"] = lambda r: httpx.Response(
        200, json={"backlog": 0, "oldest_unpublished_age_s": None, "relay": "ok", "last_published_at": None}
    )
    partitions = [{"partition": p, "committed_offset": 5, "end_offset": 5, "lag": 0} for p in range(3)]
    upstreams.handlers["GET projector/freshness"] = lambda r: httpx.Response(
        200, json={"partitions": partitions, "dlq_count": 1, "quarantined": 0}
    )
    members = [
        {
            "client_id": "mongo-projector-consume@a:11",
            "host": "127.0.0.1",
            "member_id": "m1",
            "partitions": [{"partition": 0, "lag": 0}, {"partition": 1, "lag": 4}],
            "lag": 4,
        },
        {
            "client_id": "mongo-projector-consume@b:12",
            "host": "127.0.0.2",
            "member_id": "m2",
            "partitions": [{"partition": 2, "lag": 0}],
            "lag": 0,
        },
    ]
    upstreams.handlers["GET projector/consumers"] = lambda r: httpx.Response(
        200, json={"group": "mongo-projector", "state": "Stable", "members": members, "unassigned": []}
    )
    letter = {
        "partition": 0,
        "offset": 7,
        "key": SALE,
        "at": "2026-12-06T14:41:02.123Z",
        "headers": {
            "error.class": "ValidationError",
            "error.message": "version: not an integer",
            "source.topic": "sales.events",
            "source.partition": "3",
            "source.offset": "42",
            "dlq.time": "2026-12-06T14:41:02.120Z",
        },
    }
    upstreams.handlers["GET projector/dead-letters"] = lambda r: httpx.Response(
        200, json={"topic": "sales.events.dlq", "count": 1, "items": [letter]}
    )


@asynccontextmanager
async def panel_gateway(prometheus_url: str = "") -> AsyncIterator[tuple[httpx.AsyncClient, Upstreams]]:
    async with running(GatewaySettings(prometheus_url=prometheus_url)) as (client, upstreams, _):
        projector_answers(upstreams)
        yield client, upstreams


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


async def test_the_panel_shows_firing_alerts_the_last_hour_members_and_dead_letters(
    prometheus: FakePrometheus,
) -> None:
    now = time.time()
    prometheus.series[LAG] = [(now - 3600 + 60 * i, str(v)) for i, v in enumerate([0, 40, 120, 12])]
    prometheus.series[APPLIED] = [(now - 120, "2.5"), (now - 60, "NaN"), (now, "7.25")]
    prometheus.alerts = ALERTS
    async with panel_gateway(prometheus.url) as (client, _):
        worker = {"sg_access": SIGNER.token("technical_worker")}
        page = (await with_cookies(client, "GET", "/ops/panel", worker)).text
    words = text_of(page)
    assert words.index("critical RelayNotPublishing") < words.index("warning DeadLettersGrowing")
    assert "TargetDown" not in words  # pending: not yet an alert
    assert "since 2026-12-06 14:48:24 UTC" in words
    assert 'aria-label="Consumer lag over the last hour: now 12 events; lowest 0, highest 120."' in page
    assert 'aria-label="Events applied over the last hour: now 7.25 events/s; lowest 2.50, highest 7.25."' in page
    assert page.count("<svg") == 2
    assert "mongo-projector-consume@a:11 on 127.0.0.1 lag 4 partition 0: lag 0 partition 1: lag 4" in words
    assert "2 in group mongo-projector · Stable" in words
    assert "ValidationError : version: not an integer" in words
    assert "from sales.events partition 3, offset 42" in words
    assert f'href="/ops/sales/{SALE}/repair"' in page
    ranged = [q for q in prometheus.asked if q["path"] == ["/api/v1/query_range"]]
    assert {q["query"][0] for q in ranged} == {LAG, APPLIED}
    assert all(int(q["end"][0]) - int(q["start"][0]) == 3600 and q["step"] == ["60"] for q in ranged)


async def test_a_manager_sees_the_panel_without_the_repair_action(prometheus: FakePrometheus) -> None:
    async with panel_gateway(prometheus.url) as (client, _):
        page = (await with_cookies(client, "GET", "/ops", {"sg_access": SIGNER.token("senior_management")})).text
    assert "No alerts firing." in page
    assert "ValidationError" in page
    assert "/repair" not in page


async def test_each_part_says_its_source_is_down_and_the_rest_still_shows(prometheus: FakePrometheus) -> None:
    worker = {"sg_access": SIGNER.token("technical_worker")}
    async with panel_gateway() as (client, _):
        unset = text_of((await with_cookies(client, "GET", "/ops/panel", worker)).text)
    assert "No sparklines: Prometheus is not configured (PROMETHEUS_URL)." in unset
    assert "Alerts unknown: PROMETHEUS_URL is not set." in unset
    assert "mongo-projector-consume@a:11" in unset

    prometheus.failing = True
    async with panel_gateway(prometheus.url) as (client, upstreams):
        down = text_of((await with_cookies(client, "GET", "/ops/panel", worker)).text)
        assert "No sparklines: Prometheus did not answer" in down
        assert "Alerts unknown:" in down
        assert "ValidationError" in down

        prometheus.failing = False
        upstreams.down.add("projector")
        no_projector = text_of((await with_cookies(client, "GET", "/ops/panel", worker)).text)
    assert "Consumer group unknown:" in no_projector
    assert "Dead letters unknown:" in no_projector
    assert "No alerts firing." in no_projector
    assert "Consumer lag over the last hour" not in no_projector  # no samples: a line is not drawn
    assert "No samples in the last hour." in no_projector


async def test_the_json_api_gives_each_part_to_staff(prometheus: FakePrometheus) -> None:
    prometheus.alerts = ALERTS
    prometheus.series[LAG] = [(NOW - 60, "3"), (NOW, "5")]
    async with panel_gateway(prometheus.url) as (client, _):
        manager = bearer("senior_management")
        alerts = (await client.get("/api/ops/alerts", headers=manager)).json()
        assert alerts["status"] == "firing"
        assert [(a["name"], a["severity"]) for a in alerts["alerts"]] == [
            ("RelayNotPublishing", "critical"),
            ("DeadLettersGrowing", "warning"),
        ]
        hour = (await client.get("/api/ops/history", headers=manager)).json()
        lag = next(s for s in hour["series"] if s["name"] == "lag")
        assert (lag["latest"], lag["min"], lag["max"], lag["unit"]) == (5.0, 3.0, 5.0, "events")
        members = (await client.get("/api/ops/consumers", headers=manager)).json()
        assert [m["client_id"] for m in members["members"]] == [
            "mongo-projector-consume@a:11",
            "mongo-projector-consume@b:12",
        ]
        letters = (await client.get("/api/ops/dead-letters", headers=manager)).json()
        assert letters["items"][0]["headers"]["error.class"] == "ValidationError"
        for path in ("/api/ops/alerts", "/api/ops/history", "/api/ops/consumers", "/api/ops/dead-letters"):
            assert (await client.get(path, headers=bearer("customer"))).status_code == 403


async def test_repair_is_for_technical_workers_with_a_csrf_token_and_names_what_was_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with panel_gateway() as (client, upstreams):
        upstreams.handlers[f"POST projector/internal/sales/{SALE}/repair"] = lambda r: httpx.Response(
            200, json={"sale_id": SALE, "found": "stale", "republished": 1, "strays_deleted": 0, "rewound": 0}
        )
        csrf = "c" * 32
        manager = {"sg_access": SIGNER.token("senior_management"), "sg_csrf": csrf}
        worker = {"sg_access": SIGNER.token("technical_worker", sub="worker-7"), "sg_csrf": csrf}
        form = {"csrf_token": csrf}

        assert (await with_cookies(client, "GET", f"/ops/sales/{SALE}/repair", manager)).status_code == 403
        refused = await with_cookies(client, "POST", f"/ops/sales/{SALE}/repair", manager, data=form)
        assert refused.status_code == 403
        api_refused = await client.post(f"/api/ops/sales/{SALE}/repair", headers=bearer("senior_management"))
        assert api_refused.status_code == 403

        confirm = await with_cookies(client, "GET", f"/ops/sales/{SALE}/repair", worker)
        assert confirm.status_code == 200
        assert "Repair this sale?" in confirm.text
        assert f'action="/ops/sales/{SALE}/repair"' in confirm.text
        forged = await with_cookies(client, "POST", f"/ops/sales/{SALE}/repair", worker, data={"csrf_token": "x" * 32})
        assert forged.status_code == 403
        assert not [r for r in upstreams.seen if r.url.path.endswith("/repair")]

        with caplog.at_level(logging.INFO, logger="supply_gateway.service_layer.operator_views"):
            done = await with_cookies(client, "POST", f"/ops/sales/{SALE}/repair", worker, data=form)
        assert done.status_code == 200
        assert f"Sale {SALE} was stale in the copy: republished from MySQL." in html.unescape(done.text)
        sent = [r for r in upstreams.seen if r.url.path == f"/internal/sales/{SALE}/repair"]
        assert len(sent) == 1
        assert sent[0].headers["authorization"] == f"Bearer {GATEWAY_CREDENTIAL}"
        audit = [r for r in caplog.records if getattr(r, "event", None) == "ops.repair"]
        assert [(r.user_id, r.sale_id, r.found) for r in audit] == [("worker-7", SALE, "stale")]  # type: ignore[attr-defined]

        upstreams.handlers[f"POST projector/internal/sales/{SALE}/repair"] = lambda r: httpx.Response(
            200, json={"sale_id": SALE, "found": None, "republished": 0, "strays_deleted": 0, "rewound": 0}
        )
        api = await client.post(f"/api/ops/sales/{SALE}/repair", headers=bearer("technical_worker"))
        assert api.status_code == 200
        assert api.json()["notice"] == f"Sale {SALE} matches MySQL: nothing to repair."


def test_a_sparkline_spans_the_hour_from_its_lowest_to_its_highest_value() -> None:
    points = [(NOW - 3600, 10.0), (NOW - 1800, 30.0), (NOW, 20.0)]
    drawn = sparkline({"title": "Lag", "unit": "events", "points": points, "min": 10.0, "max": 30.0}, 206, 46, 3)
    assert drawn.line == "M3.0 29.7 L103.0 3.0 L203.0 16.3"  # the floor is 0: values never below it
    assert drawn.last == (203.0, 16.3)
    assert drawn.words == "Lag over the last hour: now 20 events; lowest 10, highest 30."
    empty = sparkline({"title": "Lag", "unit": "events", "points": []})
    assert empty.empty
    assert empty.words == "Lag: no samples in the last hour."


def test_only_firing_alerts_count_most_severe_first() -> None:
    assert [a["name"] for a in firing(ALERTS)] == ["RelayNotPublishing", "DeadLettersGrowing"]
    assert firing({"alerts": []}) == []
    with pytest.raises(ValueError):
        firing({"groups": []})
