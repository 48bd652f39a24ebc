"""The senior management's dashboard.

The dashboard page itself asks no report: it renders at once with a placeholder per figure, and its
script fetches each report from the gateway's own API, so that each figure shows, or fails with a
retry, on its own."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from supply_gateway.entrypoints.web.page import Page, page

router = APIRouter(include_in_schema=False)


PRESETS = (("7d", "Last 7 days"), ("30d", "Last 30 days"), ("year", "This year"), ("all", "All time"))
DAILY_UP_TO_DAYS = 92
"""Periods at most this long are drawn a bar a day (the read API's `by-day` answers up to that)."""


@dataclass(frozen=True)
class Period:
    """Whole UTC days, both ends included; `None` leaves that end open."""

    first: date | None = None
    last: date | None = None
    preset: str | None = None

    @property
    def days(self) -> int | None:
        if self.first is None or self.last is None:
            return None
        return (self.last - self.first).days + 1

    @property
    def daily(self) -> bool:
        return self.days is not None and self.days <= DAILY_UP_TO_DAYS

    def api_query(self) -> dict[str, str]:
        """The read API's bounds: `date_from` inclusive, `date_to` exclusive, midnight UTC."""
        query = {}
        if self.first is not None:
            query["date_from"] = f"{self.first.isoformat()}T00:00:00Z"
        if self.last is not None and self.last < date.max:
            query["date_to"] = f"{(self.last + timedelta(days=1)).isoformat()}T00:00:00Z"
        return query

    def sales_query(self) -> dict[str, str]:
        """The sales list's filters for the same days (it takes whole days, both ends included)."""
        query = {}
        if self.first is not None:
            query["date_from"] = self.first.isoformat()
        if self.last is not None:
            query["date_to"] = self.last.isoformat()
        return query

    def previous(self) -> Period | None:
        """What the period's figures are compared with: the same dates a year before for "this year",
        else as many days right before. An open period has nothing to compare with."""
        if self.first is None or self.last is None or self.days is None:
            return None
        try:
            if self.preset == "year":
                return Period(_year_before(self.first), _year_before(self.last))
            return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))
        except (OverflowError, ValueError):
            return None

    def words(self) -> str:
        if self.first is None and self.last is None:
            return "all time"
        if self.first is None:
            return f"up to {day_text(self.last)}"
        if self.last is None:
            return f"from {day_text(self.first)}"
        if self.first == self.last:
            return day_text(self.first)
        return f"{day_text(self.first)} to {day_text(self.last)}"


def day_text(day: date | None) -> str:
    """`6 Dec 2026`."""
    return "" if day is None else f"{day.day} {day.strftime('%b %Y')}"


def _year_before(day: date) -> date:
    return day.replace(year=day.year - 1, day=28) if (day.month, day.day) == (2, 29) else day.replace(year=day.year - 1)


def preset_period(preset: str, today: date) -> Period:
    if preset == "7d":
        return Period(today - timedelta(days=6), today, preset)
    if preset == "30d":
        return Period(today - timedelta(days=29), today, preset)
    if preset == "year":
        return Period(today.replace(month=1, day=1), today, preset)
    return Period(preset="all")


def picked_period(params: Mapping[str, str], today: date) -> tuple[Period, dict[str, str]]:
    """The period a dashboard URL asks for (a preset, else `YYYY-MM-DD` dates), and what is wrong
    with it by field. No dates and no preset is all time."""
    errors: dict[str, str] = {}
    days: dict[str, date] = {}
    for key in ("date_from", "date_to"):
        value = (params.get(key) or "").strip()
        if not value:
            continue
        try:
            days[key] = date.fromisoformat(value)
        except ValueError:
            errors[key] = "Enter a date like 2017-12-31."
    if "date_from" in days and "date_to" in days and days["date_to"] < days["date_from"]:
        errors["date_to"] = "The end date is before the start date: pick one on or after the start date."
    if days or errors:
        return Period(days.get("date_from"), days.get("date_to")), errors
    preset = params.get("period", "all")
    return preset_period(preset if preset in dict(PRESETS) else "all", today), errors


@dataclass(frozen=True)
class Figure:
    """One chart of the dashboard: the report it draws, how, and which sales a bar opens."""

    id: str
    title: str
    report: str
    kind: str
    """`bars` (named categories), `time` (days or months on a time axis) or `columns` (scores)."""
    value: str = "revenue"
    label: str = "key"
    extra: tuple[tuple[str, str], ...] = ()
    link: str | None = None
    """The sales list filter a bar's category sets; `date` for a time bar (its day or month)."""
    wide: bool = False

    def attributes(self, period: Period) -> str:
        query = {**period.api_query(), **dict(self.extra)}
        config = {
            "id": self.id,
            "title": self.title,
            "url": f"/api/analytics/{self.report}" + (f"?{urlencode(query)}" if query else ""),
            "kind": self.kind,
            "value": self.value,
            "label": self.label,
            "link": self.link,
            "unit": "day" if self.report == "by-day" else "month",
            "first": period.first.isoformat() if period.first else None,
            "last": period.last.isoformat() if period.last else None,
            "sales": urlencode(period.sales_query()),
        }
        return json.dumps(config, separators=(",", ":"))


def figures(period: Period) -> list[Figure]:
    over_time = (
        Figure("by-day", "Revenue by day", "by-day", "time", link="date", wide=True)
        if period.daily
        else Figure("by-month", "Revenue by month", "by-month", "time", link="date", wide=True)
    )
    return [
        over_time,
        Figure("by-store", "Revenue by store", "by-store", "bars", link="store"),
        Figure("by-method", "Revenue by purchase method", "by-method", "bars", link="method"),
        Figure(
            "top-items",
            "Top items by revenue",
            "top-items",
            "bars",
            label="name",
            extra=(("by", "revenue"), ("limit", "8")),
            link="item",
        ),
        Figure(
            "satisfaction",
            "Customer satisfaction (sales per score)",
            "satisfaction",
            "columns",
            value="sales",
            label="score",
        ),
    ]


def kpi_sources(period: Period) -> str:
    """Where the figures at the top come from: the period's summary and coupons, and the previous
    period's, for the change."""
    previous = period.previous()

    def urls(of: Period) -> dict[str, str]:
        query = f"?{urlencode(of.api_query())}" if of.api_query() else ""
        return {"summary": f"/api/analytics/summary{query}", "coupons": f"/api/analytics/coupons{query}"}

    return json.dumps(
        {
            "current": urls(period),
            "previous": urls(previous) if previous else None,
            "compared": previous.words() if previous else None,
        },
        separators=(",", ":"),
    )


@router.get("/dashboard")
@page("dashboard")
async def dashboard(request: Request, current: Page) -> Response:
    period, errors = picked_period(request.query_params, datetime.now(UTC).date())
    presets = [(key, label, f"/dashboard?period={key}", period.preset == key and not errors) for key, label in PRESETS]
    return current.render(
        "dashboard.html",
        422 if errors else 200,
        period=period,
        presets=presets,
        window=(
            {key: request.query_params.get(key, "") for key in ("date_from", "date_to")}
            if errors
            else period.sales_query()
        ),
        errors=errors,
        error="The dashboard cannot show this period. " + " ".join(errors.values()) if errors else None,
        figures=[] if errors else figures(period),
        kpis=None if errors else kpi_sources(period),
        compared=period.previous(),
    )
