"""The dashboard and the replication page."""

from __future__ import annotations

import html
import json
import re
import time
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

import httpx

from supply_gateway.entrypoints.web.dashboard import Period, picked_period, preset_period

from .app_support import SIGNER, logs_in_as, submit_login, with_cookies


async def test_the_replication_panel_answers_401_when_the_session_ended(gateway) -> None:
    client, upstreams = gateway
    panel = await with_cookies(client, "GET", "/ops/panel", {})
    assert panel.status_code == 401
    assert "location" not in panel.headers
    refused = await with_cookies(client, "GET", "/ops/panel", {"sg_access": SIGNER.token("customer")})
    assert refused.status_code == 403

    logs_in_as(upstreams, "technical_worker")
    for target, lands in (("/ops/panel", "/ops"), ("/ops/panel?x=1", "/ops"), ("/sales?store=Denver", None)):
        signed_in = await submit_login(client, target)
        assert signed_in.headers["location"] == (lands or target)


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
    # Not the raw seconds (172,860 or so), in any grouping; a timestamp's fraction (".172983Z") is not them.
    assert not re.search(r"(?<![\d.:])172[ ,]?8\d\d(?!\d)", quiet)

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


async def test_the_dashboard_renders_at_once_with_a_placeholder_per_figure_and_asks_no_report(gateway) -> None:
    client, upstreams = gateway
    session = {"sg_access": SIGNER.token("senior_management")}
    page = await with_cookies(client, "GET", "/dashboard", session)
    assert page.status_code == 200
    assert not [r for r in upstreams.seen if r.url.path.startswith("/analytics")]
    charts = [json.loads(html.unescape(found)) for found in re.findall(r'data-chart="([^"]+)"', page.text)]
    assert [chart["url"].split("?")[0] for chart in charts] == [
        "/api/analytics/by-month",
        "/api/analytics/by-store",
        "/api/analytics/by-method",
        "/api/analytics/top-items",
        "/api/analytics/satisfaction",
    ]
    assert page.text.count("Loading…") == len(charts)
    assert "Showing all time" in page.text
    assert 'href="/dashboard?period=7d"' in page.text

    week = await with_cookies(client, "GET", "/dashboard?period=7d", session)
    charts = [json.loads(html.unescape(found)) for found in re.findall(r'data-chart="([^"]+)"', week.text)]
    today = datetime.now(UTC).date()
    assert charts[0]["url"].startswith("/api/analytics/by-day?"), "a short period is drawn a bar a day"
    assert charts[0]["first"] == (today - timedelta(days=6)).isoformat()
    kpis = json.loads(html.unescape(re.search(r'data-kpis="([^"]+)"', week.text).group(1)))
    assert kpis["current"]["summary"] == (
        "/api/analytics/summary?"
        + urlencode(
            {"date_from": f"{today - timedelta(days=6)}T00:00:00Z", "date_to": f"{today + timedelta(days=1)}T00:00:00Z"}
        )
    )
    assert kpis["previous"]["summary"] == (
        "/api/analytics/summary?"
        + urlencode(
            {
                "date_from": f"{today - timedelta(days=13)}T00:00:00Z",
                "date_to": f"{today - timedelta(days=6)}T00:00:00Z",
            }
        )
    )


async def test_a_reversed_or_mistyped_period_is_flagged_on_its_field_and_asks_nothing(gateway) -> None:
    client, upstreams = gateway
    session = {"sg_access": SIGNER.token("senior_management")}
    reversed_period = await with_cookies(client, "GET", "/dashboard?date_from=2020-01-01&date_to=2019-01-01", session)
    assert reversed_period.status_code == 422
    assert 'value="2020-01-01"' in reversed_period.text
    assert 'data-field="date_to"' in reversed_period.text
    assert "before the start date" in reversed_period.text
    mistyped = await with_cookies(client, "GET", "/dashboard?date_from=1.1.2020", session)
    assert mistyped.status_code == 422
    assert 'data-field="date_from"' in mistyped.text
    assert "Enter a date like 2017-12-31." in mistyped.text
    assert "data-chart" not in reversed_period.text + mistyped.text
    assert not [r for r in upstreams.seen if r.url.path.startswith("/analytics")]


def test_a_period_is_compared_with_as_many_days_before_and_this_year_with_the_same_dates_last_year() -> None:
    today = date(2024, 2, 29)
    week = preset_period("7d", today)
    assert (week.first, week.last, week.daily) == (date(2024, 2, 23), today, True)
    assert week.previous() == Period(date(2024, 2, 16), date(2024, 2, 22))
    year = preset_period("year", today)
    assert year.previous() == Period(date(2023, 1, 1), date(2023, 2, 28))
    assert year.daily, "two months are drawn by day"
    assert not preset_period("year", date(2024, 12, 6)).daily, "most of a year is drawn by month"
    assert preset_period("all", today).previous() is None
    custom, errors = picked_period({"date_from": "2017-03-01", "date_to": "2017-03-31"}, today)
    assert errors == {}
    assert custom.api_query() == {"date_from": "2017-03-01T00:00:00Z", "date_to": "2017-04-01T00:00:00Z"}
    assert custom.sales_query() == {"date_from": "2017-03-01", "date_to": "2017-03-31"}
    assert custom.words() == "1 Mar 2017 to 31 Mar 2017"
    assert picked_period({"date_from": "2017-03-01"}, today)[0].previous() is None
