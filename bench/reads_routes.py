"""The read routes the reads row measures, what each is held to, and the same read straight from the store
and, for analytics, the same aggregate in SQL on the MySQL source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlencode

from supply_projector.domain.queries import SORTS

Kind = Literal["fast", "range", "page"]
"""What a route is held to: `fast` (a sale by id, a customer's sales, an equality filter's or the
unfiltered first page, analytics): p95 <= 50 ms at 100,000 and <= 100 ms at 1,000,000 sales, and at
most 3x from 5,000 to 1,000,000; `range` (date and total ranges): p95 <= 200 ms at 100,000; `page` (a
role's rendered home page): p95 <= 300 ms at 1,000,000."""

Role = Literal["customer", "technical_worker", "senior_management"]

REPORTS = ("summary", "by-store", "by-month", "by-day", "by-method", "top-items", "satisfaction", "coupons")
WINDOWS: dict[str, tuple[datetime, datetime] | None] = {
    "all": None,
    "1y": (datetime(2016, 1, 1, tzinfo=UTC), datetime(2017, 1, 1, tzinfo=UTC)),
    "30d": (datetime(2017, 6, 1, tzinfo=UTC), datetime(2017, 7, 1, tzinfo=UTC)),
}
SHORT_WINDOWS_ONLY = {"by-day"}
"""Reports asked only over the 30-day window (the read API refuses more than 92 days by day)."""


def windows_of(report: str) -> list[str]:
    return ["30d"] if report in SHORT_WINDOWS_ONLY else list(WINDOWS)


DATE_RANGE = (datetime(2015, 6, 1, tzinfo=UTC), datetime(2015, 7, 1, tzinfo=UTC))
TOTAL_RANGE = (Decimal(1000), Decimal(2000))
EQUALITY_FILTERS = {
    "store": "London",
    "method": "Phone",
    "coupon": "true",
    "item": "laptop",
    "tag": "electronics",
}


@dataclass(frozen=True)
class Subject:
    """What a size's routes ask about: a sale id per call (taken in turn) and the customer whose
    purchases are read."""

    sale_ids: tuple[str, ...]
    customer_email: str


@dataclass(frozen=True)
class Route:
    key: str
    label: str
    kind: Kind
    role: Role
    path: Callable[[Subject, int], str]
    """The gateway path of the n-th call."""
    store: Callable[[Any, Subject, int], object] | None = None
    """The same read straight from the store, given the store's `Reads` (see `bench.reads_store`)."""
    sql: str | None = None
    """The same aggregate in SQL on the MySQL source (analytics routes)."""


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _query(params: dict[str, str]) -> str:
    return f"?{urlencode(params)}" if params else ""


def _window_params(window: str) -> dict[str, str]:
    bounds = WINDOWS[window]
    return {} if bounds is None else {"date_from": _stamp(bounds[0]), "date_to": _stamp(bounds[1])}


def _sales_route(key: str, label: str, kind: Kind, params: Callable[[Subject], dict[str, str]]) -> Route:
    return Route(
        key,
        label,
        kind,
        "technical_worker",
        path=lambda subject, _: "/api/sales" + _query(params(subject)),
        store=lambda reads, subject, _: reads.page(params(subject)),
    )


def sale_routes() -> list[Route]:
    routes = [
        _sales_route("sales", "GET /api/sales (newest first)", "fast", lambda _: {}),
        _sales_route("sales.asc", "GET /api/sales?sort=date_asc", "fast", lambda _: {"sort": "date_asc"}),
    ]
    for sort in (s for s in SORTS if s not in ("date_desc", "date_asc")):  # the date sorts: just above
        routes.append(
            _sales_route(f"sales.{sort}", f"GET /api/sales?sort={sort}", "fast", lambda _, s=sort: {"sort": s})
        )
    for name, value in EQUALITY_FILTERS.items():
        routes.append(
            _sales_route(f"sales.{name}", f"GET /api/sales?{name}={value}", "fast", lambda _, n=name, v=value: {n: v})
        )
    routes.append(
        _sales_route("sales.email", "GET /api/sales?email=(a customer)", "fast", lambda s: {"email": s.customer_email})
    )
    dates = {"date_from": _stamp(DATE_RANGE[0]), "date_to": _stamp(DATE_RANGE[1])}
    totals = {"total_min": str(TOTAL_RANGE[0]), "total_max": str(TOTAL_RANGE[1])}
    routes.append(_sales_route("sales.dates", "GET /api/sales?date_from&date_to (a month)", "range", lambda _: dates))
    routes.append(
        _sales_route("sales.total", "GET /api/sales?total_min=1000&total_max=2000", "range", lambda _: totals)
    )
    routes.append(
        Route(
            "sale",
            "GET /api/sales/{id}",
            "fast",
            "technical_worker",
            path=lambda s, n: f"/api/sales/{s.sale_ids[n % len(s.sale_ids)]}",
            store=lambda reads, s, n: reads.sale(s.sale_ids[n % len(s.sale_ids)]),
        )
    )
    routes.append(
        Route(
            "me",
            "GET /api/me/sales (a customer with up to 20 purchases)",
            "fast",
            "customer",
            path=lambda _s, _n: "/api/me/sales",
            store=lambda reads, s, _: reads.mine(s.customer_email),
        )
    )
    return routes


def analytics_routes() -> list[Route]:
    routes = []
    for report in REPORTS:
        for window in windows_of(report):
            params = _window_params(window)
            routes.append(
                Route(
                    f"analytics.{report}.{window}",
                    f"GET /api/analytics/{report} ({'whole range' if window == 'all' else window})",
                    "fast",
                    "senior_management",
                    path=lambda _s, _n, r=report, p=params: f"/api/analytics/{r}" + _query(p),
                    store=lambda reads, _s, _n, r=report, w=window: reads.analytics(r, WINDOWS[w]),
                    sql=sql_of(report, window),
                )
            )
    return routes


PAGES: dict[Role, str] = {"customer": "/purchases", "technical_worker": "/sales", "senior_management": "/dashboard"}


def page_routes() -> list[Route]:
    return [
        Route(
            f"page.{role}", f"GET {path} (the {role.replace('_', ' ')}'s page)", "page", role, lambda _s, _n, p=path: p
        )
        for role, path in PAGES.items()
    ]


def routes() -> list[Route]:
    return [*sale_routes(), *analytics_routes(), *page_routes()]


LINES = "sales s JOIN sale_items i ON i.sale_id = s.id"
SQL_REPORTS = {
    "summary": "SELECT COUNT(DISTINCT s.id), SUM(i.price * i.quantity), SUM(i.quantity) FROM {lines}{where}",
    "by-store": "SELECT s.store_location, COUNT(DISTINCT s.id), SUM(i.price * i.quantity) FROM {lines}{where}"
    " GROUP BY s.store_location",
    "by-month": "SELECT DATE_FORMAT(s.sale_date, '%%Y-%%m'), COUNT(DISTINCT s.id), SUM(i.price * i.quantity)"
    " FROM {lines}{where} GROUP BY 1",
    "by-day": "SELECT DATE(s.sale_date), COUNT(DISTINCT s.id), SUM(i.price * i.quantity) FROM {lines}{where}"
    " GROUP BY 1",
    "by-method": "SELECT s.purchase_method, COUNT(DISTINCT s.id), SUM(i.price * i.quantity) FROM {lines}{where}"
    " GROUP BY s.purchase_method",
    "top-items": "SELECT i.name, SUM(i.price * i.quantity) AS revenue, SUM(i.quantity) FROM {lines}{where}"
    " GROUP BY i.name ORDER BY revenue DESC LIMIT 10",
    "satisfaction": "SELECT s.customer_satisfaction, COUNT(*) FROM sales s{where} GROUP BY s.customer_satisfaction",
    "coupons": "SELECT SUM(s.coupon_used), COUNT(*) FROM sales s{where}",
}


def sql_of(report: str, window: str) -> str:
    """The report's aggregate over MySQL's own tables (the sale and its lines), as a manager would
    write it against the source; `%s` placeholders take the window's bounds."""
    where = "" if WINDOWS[window] is None else " WHERE s.sale_date >= %s AND s.sale_date < %s"
    return SQL_REPORTS[report].format(lines=LINES, where=where)


def sql_params(route: Route) -> tuple[datetime, ...]:
    window = route.key.rsplit(".", 1)[1]
    bounds = WINDOWS.get(window)
    return () if bounds is None else tuple(moment.replace(tzinfo=None) for moment in bounds)
