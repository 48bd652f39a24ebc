"""The customer's purchases, and the sales list of the staff: search, sort, pages, the whole match's
count and total, export and import."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from supply_common.contract.sale import SALE_FILTERS
from supply_gateway.entrypoints.session import CSRF_FIELD, credentials
from supply_gateway.entrypoints.web.filters import plain_filter_errors, read_filters
from supply_gateway.entrypoints.web.form_errors import field_errors
from supply_gateway.entrypoints.web.page import Page, date_range, items, page
from supply_gateway.service_layer.callers import check_csrf

router = APIRouter(include_in_schema=False)


@router.get("/purchases")
@page("purchases")
async def purchases(request: Request, current: Page) -> Response:
    body = await current.api_ok(
        "GET", "/api/me/sales", query={"cursor": request.query_params.get("cursor"), "limit": 50}
    )
    totals = body.get("totals", body) if isinstance(body, dict) else {}
    return current.render(
        "purchases.html",
        sales=items(body),
        count=totals.get("count"),
        revenue=totals.get("revenue"),
        next_cursor=body.get("next_cursor") if isinstance(body, dict) else None,
    )


# --- sales (technical worker, senior management) ---------------------------------------------------


PAGE_SIZES = (10, 25, 50, 100)
SORTS = {
    "date_desc": "Newest first",
    "date_asc": "Oldest first",
    "total_desc": "Largest total first",
    "total_asc": "Smallest total first",
    "store_asc": "Store A to Z",
    "store_desc": "Store Z to A",
}
COLUMN_SORTS = {
    "date": ("date_desc", "date_asc"),
    "total": ("total_desc", "total_asc"),
    "store": ("store_asc", "store_desc"),
}
"""A column header sorts by its first order, and by the other when the list is already in the first."""


def _page_size(text: str | None) -> int:
    return int(text) if text and text.isdigit() and int(text) in PAGE_SIZES else 25


@router.get("/sales")
@page("sales")
async def sales(request: Request, current: Page) -> Response:
    params = request.query_params
    filters = {name: params.get(name, "") for name in SALE_FILTERS}
    size = _page_size(params.get("size"))
    notice = warning = None
    highlight = params.get("saved")
    if params.get("saved"):
        if await _copy_has(current, params["saved"], params.get("v", "1")):
            notice = f"Sale {params['saved']} saved."
        else:
            warning = f"Sale {params['saved']} saved; the list may take a moment to show it."
    elif params.get("deleted"):
        if await _copy_lacks(current, params["deleted"]):
            notice = f"Sale {params['deleted']} deleted."
        else:
            warning = f"Sale {params['deleted']} deleted; the list may take a moment to show it."
    sent, errors = read_filters(filters)
    search = {k: v for k, v in date_range(sent).items() if v}
    body: Any = {}
    summary, counted_in_time = None, True
    if not errors:
        counting = asyncio.create_task(
            current.api("GET", "/api/sales/summary", query={k: v for k, v in search.items() if k != "sort"})
        )
        reply = await current.api("GET", "/api/sales", query={**search, "cursor": params.get("cursor"), "limit": size})
        if reply.status == 422:
            errors = plain_filter_errors(field_errors(reply.problem()))
        elif not reply.ok:
            counting.cancel()
            raise reply.problem()
        else:
            body = reply.body
        summary, counted_in_time = await _summary(counting)
    if errors:
        warning = "Some filters need a change: see the marked fields."
    kept = {k: v for k, v in filters.items() if v} | ({"size": str(size)} if size != 25 else {})

    def link(**changes: str | None) -> str:
        return "/sales?" + urlencode({k: v for k, v in (kept | changes).items() if v})

    def cursor_link(name: str) -> str | None:
        value = body.get(name) if isinstance(body, dict) else None
        return link(cursor=value) if value else None

    current_sort = filters.get("sort") or "date_desc"
    columns = {
        column: {
            "href": link(sort=orders[1] if current_sort == orders[0] else orders[0]),
            "sort": "descending" if current_sort.endswith("desc") else "ascending",
            "active": current_sort in orders,
        }
        for column, orders in COLUMN_SORTS.items()
    }
    return current.render(
        "sales.html",
        sales=items(body),
        filters=filters,
        errors=errors,
        notice=notice,
        warning=warning,
        highlight=highlight,
        summary=summary,
        counted_in_time=counted_in_time,
        next_href=cursor_link("next_cursor"),
        prev_href=cursor_link("prev_cursor"),
        first_href=link() if params.get("cursor") else None,
        export_href="/api/sales/export?" + urlencode(search),
        sorts=SORTS,
        sort=current_sort,
        columns=columns,
        sizes=PAGE_SIZES,
        size=size,
        can_edit=current.may("sale_edit"),
    )


SUMMARY_WAIT_S = 1.5
"""How long the list waits for the whole match's count and total once its page is there. The read API
bounds that work (rollups, or a count up to a cap); the wait guards the page against a slow store."""


async def _summary(counting: asyncio.Task[Any]) -> tuple[dict[str, Any] | None, bool]:
    """The whole match's `{count, total, more}` if it comes within `SUMMARY_WAIT_S`, else (None, False).
    With `more`, the match has more than `count` sales and there is no total."""
    try:
        counted = await asyncio.wait_for(counting, SUMMARY_WAIT_S)
    except TimeoutError:
        return None, False
    body = counted.body if counted.ok else None
    if not isinstance(body, dict) or not isinstance(body.get("count"), int):
        return None, True
    more = body.get("more") is True
    if not more and not isinstance(body.get("total"), str):
        return None, True
    return {"count": body["count"], "total": None if more else body["total"], "more": more}, True


READ_YOUR_WRITES_S = 5.0


async def _copy_has(current: Page, sale_id: str, version: str) -> bool:
    """Read-your-writes: wait (bounded) until the read copy holds this version of the sale."""
    reply = await current.api(
        "GET", f"/api/sales/{sale_id}", query={"min_version": version, "wait_ms": int(READ_YOUR_WRITES_S * 1000)}
    )
    return reply.ok


async def _copy_lacks(current: Page, sale_id: str) -> bool:
    """Wait (bounded) until a deleted sale is gone from the read copy."""
    deadline = time.monotonic() + READ_YOUR_WRITES_S
    while True:
        reply = await current.api("GET", f"/api/sales/{sale_id}")
        if reply.status == 404:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.1)


@router.get("/sales/import")
@page("import")
async def import_form(request: Request, current: Page) -> Response:
    return current.render("import.html", result=None)


@router.post("/sales/import")
@page("import")
async def import_file(request: Request, current: Page) -> Response:
    form = await request.form()
    token = form.get(CSRF_FIELD)
    check_csrf(credentials(request, current.settings, csrf_submitted=token if isinstance(token, str) else ""))
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return current.render("import.html", 422, result=None, error="Choose a file to import.")
    content = await upload.read()
    body = await current.api_ok(
        "POST", "/api/sales/import", content=content, headers={"content-type": "application/x-ndjson"}
    )
    return current.render("import.html", result=body)
