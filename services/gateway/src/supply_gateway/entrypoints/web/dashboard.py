"""The senior management's dashboard and the replication page of the staff."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from supply_gateway.entrypoints.web import charts
from supply_gateway.entrypoints.web.form_errors import field_errors
from supply_gateway.entrypoints.web.page import Page, date_range, items, page

router = APIRouter(include_in_schema=False)


@router.get("/ops")
@page("ops")
async def ops(request: Request, current: Page) -> Response:
    return current.render(
        "ops.html", health=await current.gateway.replication(current.caller, request.state.request_id)
    )


@router.get("/ops/panel")
@page("ops", fragment=True)
async def ops_panel(request: Request, current: Page) -> Response:
    return current.render(
        "_ops_panel.html", health=await current.gateway.replication(current.caller, request.state.request_id)
    )


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _keyed(rows: list[Any], key: str = "key", value: str = "revenue") -> list[tuple[str, float]]:
    return [(str(row.get(key)), _number(row.get(value))) for row in rows if isinstance(row, dict)]


@router.get("/dashboard")
@page("dashboard")
async def dashboard(request: Request, current: Page) -> Response:
    picked = {"date_from": request.query_params.get("date_from"), "date_to": request.query_params.get("date_to")}
    errors = _period_errors(picked)
    if errors:
        return _dashboard_refused(current, picked, errors)
    window = date_range(picked)
    replies = await asyncio.gather(
        current.api("GET", "/api/analytics/summary", query=window),
        current.api("GET", "/api/analytics/by-store", query=window),
        current.api("GET", "/api/analytics/by-month", query=window),
        current.api("GET", "/api/analytics/by-method", query=window),
        current.api("GET", "/api/analytics/top-items", query={**window, "by": "revenue", "limit": 8}),
        current.api("GET", "/api/analytics/satisfaction", query=window),
        current.api("GET", "/api/analytics/coupons", query=window),
    )
    refused = next((reply for reply in replies if reply.status == 422), None)
    if refused is not None:
        errors = {
            field.removeprefix("query."): reason
            for field, reason in field_errors(refused.problem()).items()
            if field.removeprefix("query.") in picked
        }
        return _dashboard_refused(current, picked, errors or {"date_from": "Choose another period."})
    for reply in replies:
        if not reply.ok:
            raise reply.problem()
    summary, by_store, by_month, by_method, top, satisfaction, coupons = (reply.body for reply in replies)
    by_store, by_month, by_method, top, satisfaction = map(items, (by_store, by_month, by_method, top, satisfaction))
    store_rows = sorted(_keyed(by_store), key=lambda row: -row[1])
    month_rows = sorted(_keyed(by_month))
    method_rows = sorted(_keyed(by_method), key=lambda row: -row[1])
    score_rows = sorted(
        (str(row.get("score")), _number(row.get("sales"))) for row in satisfaction if isinstance(row, dict)
    )
    figures = [
        charts.bar_chart("Revenue by store", "Revenue (USD)", store_rows, "${:,.0f}"),
        charts.bar_chart("Revenue by purchase method", "Revenue (USD)", method_rows, "${:,.0f}"),
        charts.column_chart("Revenue by month", "Revenue (USD)", "Month", month_rows, "${:,.0f}", width=1140),
        charts.bar_chart("Top items by revenue", "Revenue (USD)", _keyed(top, "name"), "${:,.0f}"),
        charts.column_chart(
            "Customer satisfaction",
            "Sales (count)",
            "Satisfaction score (1 = worst, 5 = best)",
            score_rows,
            "{:,.0f}",
            whole=True,
        ),
    ]
    return current.render(
        "dashboard.html", summary=summary or {}, coupons=coupons or {}, figures=figures, window=picked, errors={}
    )


def _period_errors(picked: Mapping[str, str | None]) -> dict[str, str]:
    """What is wrong with a dashboard period picked as `YYYY-MM-DD` dates, by field."""
    errors: dict[str, str] = {}
    days: dict[str, date] = {}
    for key, value in picked.items():
        if not value:
            continue
        try:
            days[key] = date.fromisoformat(value)
        except ValueError:
            errors[key] = "Enter a date as YYYY-MM-DD."
    if "date_from" in days and "date_to" in days and days["date_to"] < days["date_from"]:
        errors["date_to"] = "The end date must be on or after the start date."
    return errors


def _dashboard_refused(current: Page, picked: Mapping[str, str | None], errors: dict[str, str]) -> Response:
    return current.render(
        "dashboard.html",
        422,
        summary={},
        coupons={},
        figures=[],
        window=picked,
        errors=errors,
        error="The dashboard cannot show this period: " + " ".join(errors.values()),
    )
