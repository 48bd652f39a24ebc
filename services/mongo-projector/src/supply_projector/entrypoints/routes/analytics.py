"""Management's analytics; `date_from` inclusive, `date_to` exclusive on every route."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from supply_common.problems import field_error
from supply_projector.entrypoints.deps import Manager, Rollups, dates_of, only_known_params
from supply_projector.service_layer import analytics

router = APIRouter(prefix="/analytics", tags=["analytics"])
WINDOW = only_known_params("date_from", "date_to")


@router.get("/summary", dependencies=[WINDOW])
def summary(
    reader: Rollups, _: Manager, date_from: AwareDatetime | None = None, date_to: AwareDatetime | None = None
) -> dict[str, Any]:
    """Revenue, number of sales, items sold and mean basket; `date_from` inclusive, `date_to` exclusive."""
    return analytics.summary(reader, dates_of(date_from, date_to))


@router.get("/by-store", dependencies=[WINDOW], name="by-store")
def by_store(
    reader: Rollups, _: Manager, date_from: AwareDatetime | None = None, date_to: AwareDatetime | None = None
) -> list[dict[str, Any]]:
    """Revenue and sales per store."""
    return analytics.by_key(reader, dates_of(date_from, date_to), "storeLocation")


@router.get("/by-month", dependencies=[WINDOW], name="by-month")
def by_month(
    reader: Rollups, _: Manager, date_from: AwareDatetime | None = None, date_to: AwareDatetime | None = None
) -> list[dict[str, Any]]:
    """Revenue and sales per month (`YYYY-MM`, UTC)."""
    return analytics.by_key(reader, dates_of(date_from, date_to), "_supply.month")


@router.get("/by-day", dependencies=[WINDOW], name="by-day")
def by_day(
    reader: Rollups, _: Manager, date_from: AwareDatetime | None = None, date_to: AwareDatetime | None = None
) -> list[dict[str, Any]]:
    """Revenue and sales per day (`YYYY-MM-DD`, UTC) with sales; both bounds are required, at most
    92 days apart."""
    try:
        return analytics.by_day(reader, dates_of(date_from, date_to))
    except analytics.WindowTooLong as exc:
        raise field_error("query.date_from" if date_from is None else "query.date_to", str(exc)) from exc


@router.get("/by-method", dependencies=[WINDOW], name="by-method")
def by_method(
    reader: Rollups, _: Manager, date_from: AwareDatetime | None = None, date_to: AwareDatetime | None = None
) -> list[dict[str, Any]]:
    """Revenue and sales per purchase method."""
    return analytics.by_key(reader, dates_of(date_from, date_to), "purchaseMethod")


@router.get("/top-items", dependencies=[only_known_params("by", "limit", "date_from", "date_to")])
def top_items(
    reader: Rollups,
    _: Manager,
    by: Literal["revenue", "quantity"] = "revenue",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    date_from: AwareDatetime | None = None,
    date_to: AwareDatetime | None = None,
) -> list[dict[str, Any]]:
    """Items ranked by revenue or by quantity sold."""
    return analytics.top_items(reader, dates_of(date_from, date_to), by, limit)


@router.get("/satisfaction", dependencies=[WINDOW])
def satisfaction(
    reader: Rollups, _: Manager, date_from: AwareDatetime | None = None, date_to: AwareDatetime | None = None
) -> list[dict[str, Any]]:
    """Number of sales per customer satisfaction score (1 to 5)."""
    return analytics.satisfaction(reader, dates_of(date_from, date_to))


@router.get("/coupons", dependencies=[WINDOW])
def coupons(
    reader: Rollups, _: Manager, date_from: AwareDatetime | None = None, date_to: AwareDatetime | None = None
) -> dict[str, Any]:
    """How many sales used a coupon, out of how many, and the rate."""
    return analytics.coupons(reader, dates_of(date_from, date_to))
