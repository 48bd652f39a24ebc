"""The dashboard and the replication page."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx

from supply_gateway.config import GatewaySettings

from .app_support import SIGNER, running, with_cookies


async def test_the_replication_panel_answers_401_when_the_session_ended(gateway) -> None:
    client, upstreams = gateway
    panel = await with_cookies(client, "GET", "/ops/panel", {})
    assert panel.status_code == 401
    assert "location" not in panel.headers
    refused = await with_cookies(client, "GET", "/ops/panel", {"sg_access": SIGNER.token("customer")})
    assert refused.status_code == 403

    pair = {"access_token": SIGNER.token("technical_worker"), "refresh_token": "r1", "expires_in": 300}
    upstreams.handlers["POST auth/login"] = lambda request: httpx.Response(200, json=pair)
    csrf = "c" * 32
    for target, lands in (("/ops/panel", "/ops"), ("/ops/panel?x=1", "/ops"), ("/sales?store=Denver", None)):
        signed_in = await with_cookies(
            client,
            "POST",
            "/login",
            {"sg_csrf": csrf},
            data={"email": "w@x.io", "password": "pw", "csrf_token": csrf, "next": target},
        )
        assert signed_in.headers["location"] == (lands or target)


async def test_a_dashboard_period_the_read_api_refuses_keeps_the_date_pickers(gateway) -> None:
    client, upstreams = gateway
    session = {"sg_access": SIGNER.token("senior_management")}
    reversed_period = await with_cookies(client, "GET", "/dashboard?date_from=2020-01-01&date_to=2019-01-01", session)
    assert reversed_period.status_code == 422
    assert 'name="date_from"' in reversed_period.text
    assert 'value="2020-01-01"' in reversed_period.text
    assert 'data-field="date_to"' in reversed_period.text
    assert not [r for r in upstreams.seen if r.url.path.startswith("/analytics")]

    upstreams.handlers["GET projector/analytics/summary"] = lambda r: httpx.Response(
        422,
        json={"title": "Invalid", "status": 422, "errors": [{"field": "query.date_from", "reason": "too old"}]},
        headers={"content-type": "application/problem+json"},
    )
    refused = await with_cookies(client, "GET", "/dashboard?date_from=0001-01-01", session)
    assert refused.status_code == 422
    assert 'data-field="date_from"' in refused.text
    assert "too old" in refused.text


async def test_the_replication_panel_says_when_the_last_event_was_applied_and_judges_by_lag(gateway) -> None:
    client, upstreams = gateway
    two_days_ago = datetime.fromtimestamp(time.time() - 2 * 86400 - 60, UTC).isoformat().replace("+00:00", "Z")
    partitions = [{"partition": 0, "committed_offset": 5, "end_offset": 5, "lag": 0, "last_occurred_at": two_days_ago}]
    upstreams.handlers["GET projector/freshness"] = lambda r: httpx.Response(200, json={"partitions": partitions})
    upstreams.handlers["GET sales-writer/internal/outbox/stats"] = lambda r: httpx.Response(
        200, json={"backlog": 0, "oldest_unpublished_age_s": None, "relay": "ok", "last_published_at": None}
    )
    session = {"sg_access": SIGNER.token("technical_worker")}
    quiet = (await with_cookies(client, "GET", "/ops/panel", session)).text
    assert "Last event applied" in quiet
    assert ">2 d ago<" in quiet
    assert "up to date" in quiet
    assert "172" not in quiet

    partitions[0].update(lag=3, end_offset=8)
    behind = (await with_cookies(client, "GET", "/ops/panel", session)).text
    assert "3 events waiting" in behind


def test_times_since_read_as_people_say_them() -> None:
    from supply_gateway.entrypoints.web.rendering import ago

    assert [ago(s) for s in (0.4, 42.9, 300, 7200, 172800.0, None)] == [
        "just now",
        "42 s ago",
        "5 min ago",
        "2 h ago",
        "2 d ago",
        "–",
    ]


async def test_the_dashboard_waits_its_turn_for_the_users_slots_instead_of_refusing() -> None:
    async with running(GatewaySettings(expensive_calls_per_user=1)) as (client, upstreams, _):
        refusal = {"title": "Invalid", "status": 422, "errors": [{"field": "query.date_from", "reason": "too old"}]}
        for report in ("summary", "by-store", "by-month", "by-method", "top-items", "satisfaction", "coupons"):
            upstreams.handlers[f"GET projector/analytics/{report}"] = lambda r: httpx.Response(
                422, json=refusal, headers={"content-type": "application/problem+json"}
            )
        page = await with_cookies(client, "GET", "/dashboard", {"sg_access": SIGNER.token("senior_management")})
        assert page.status_code == 422, "all seven reports were asked, one at a time"
        assert len([r for r in upstreams.seen if r.url.path.startswith("/analytics/")]) == 7
