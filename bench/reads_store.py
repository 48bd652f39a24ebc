"""The reads of the read API run straight against the store: the projector's own query code (its
filters, its reader, its analytics) called in the bench's process, without HTTP, the gateway or
FastAPI. Everything the reads row needs from the projector's insides is in this one module."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from bench.reads_routes import DATE_RANGE
from bench.services import ServiceMissing

PAGE = 20
"""The read API's default page size."""


class Reads:
    def __init__(self, mongo_url: str, database: str, timeout_s: float) -> None:
        try:
            from supply_projector.bootstrap import bootstrap
            from supply_projector.config import ProjectorSettings
            from supply_projector.domain import queries
            from supply_projector.service_layer import analytics
        except ImportError as exc:
            raise ServiceMissing(f"mongo-projector read code: {exc}") from exc
        separator = "&" if "?" in mongo_url else "?"
        url = f"{mongo_url}{separator}socketTimeoutMS={round(timeout_s * 1000)}"
        settings = ProjectorSettings(mongo_url=url, mongo_database=database, environment="development")
        self._projection = bootstrap(settings)
        self._queries = queries
        self._analytics = analytics
        self.reader = self._projection.reader
        # Analytics read what the read API gives them: the rollups, where the projector keeps them.
        self.aggregates = getattr(self._projection, "rollups", self.reader)

    def close(self) -> None:
        self._projection.close()

    def page(self, params: dict[str, str]) -> object:
        q = self._queries
        dates = (
            q.DateRange(q.date_bound(DATE_RANGE[0]), q.date_bound(DATE_RANGE[1]))
            if "date_from" in params
            else q.DateRange()
        )
        search = q.SalesFilter(
            store=params.get("store"),
            method=params.get("method"),
            coupon=True if params.get("coupon") == "true" else None,
            email=params.get("email"),
            item=params.get("item"),
            tag=params.get("tag"),
            dates=dates,
            total_min=Decimal(params["total_min"]) if "total_min" in params else None,
            total_max=Decimal(params["total_max"]) if "total_max" in params else None,
        )
        resolved = self._projection.vocabulary.resolve(search)  # the route's words lookup, as it runs it
        if resolved is None:
            return []
        return self.reader.page(resolved.filter(), params.get("sort", "date_desc"), None, PAGE)

    def sale(self, sale_id: str) -> object:
        return self.reader.document(sale_id)

    def mine(self, email: str) -> object:
        """What `/me/sales` reads: the first page, the count and the revenue."""
        match = self._queries.customer_match(email)
        return (
            self.reader.page(match, "date_desc", None, PAGE),
            self.reader.count(match),
            self.reader.total(match, "_supply.total_cents"),
        )

    def analytics(self, report: str, window: tuple[datetime, datetime] | None) -> Any:
        q, a = self._queries, self._analytics
        dates = q.DateRange() if window is None else q.DateRange(*(q.date_bound(moment) for moment in window))
        source = self.aggregates
        if report == "summary":
            return a.summary(source, dates)
        if report in ("by-store", "by-month", "by-method"):
            key = {"by-store": "storeLocation", "by-month": "_supply.month", "by-method": "purchaseMethod"}[report]
            return a.by_key(source, dates, key)
        if report == "top-items":
            return a.top_items(source, dates, "revenue", 10)
        if report == "satisfaction":
            return a.satisfaction(source, dates)
        if report == "by-day":
            return a.by_day(source, dates)
        return a.coupons(source, dates)
