"""The customer's purchases, and the sales pages of the staff: search, create, edit, delete, import."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from supply_common.contract import decimal_text
from supply_common.contract.sale import SALE_FILTERS
from supply_gateway.entrypoints.session import CSRF_FIELD, credentials
from supply_gateway.entrypoints.web.filters import plain_filter_errors, read_filters
from supply_gateway.entrypoints.web.form_errors import field_errors, refusal
from supply_gateway.entrypoints.web.forms import form_values, now_input, sale_body, submitted_values
from supply_gateway.entrypoints.web.journey import journey_for
from supply_gateway.entrypoints.web.page import SALE_FORM, Page, date_range, items, page
from supply_gateway.entrypoints.web.sale_changes import both_changed, changes, reapplied
from supply_gateway.service_layer.callers import Credentials, TokenPair, check_csrf

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


def _blank_sale() -> dict[str, Any]:
    return {"saleDate": "", "storeLocation": "", "purchaseMethod": "", "couponUsed": False, "items": []}


def _with_blank_rows(values: dict[str, Any], blank: int = 2) -> dict[str, Any]:
    values["items"] = list(values.get("items") or []) + [{"name": "", "tags": "", "price": "", "quantity": ""}] * blank
    return values


@router.get("/sales/new")
@page("sale_new")
async def sale_new_form(request: Request, current: Page) -> Response:
    values = _with_blank_rows({**_blank_sale(), "saleDate": now_input()}, 3)
    values["idempotency_key"] = secrets.token_hex(16)
    return current.render("sale_form.html", values=values, errors={}, sale_id=None)


@router.post("/sales/new")
@page("sale_new")
async def sale_create(request: Request, current: Page) -> Response:
    form = await current.check_form()
    if REMOVE_ITEM in form:
        return current.render(
            "sale_form.html", values=_with_blank_rows(_without_item(form), 1), errors={}, sale_id=None
        )
    reply = await current.api(
        "POST",
        "/api/sales",
        json_body=sale_body(form),
        headers={"idempotency-key": form.get("idempotency_key", "")} if form.get("idempotency_key") else None,
    )
    if reply.ok and isinstance(reply.body, dict):
        return RedirectResponse(
            "/sales?" + urlencode({"saved": reply.body["id"], "v": reply.body.get("version", 1)}), status_code=303
        )
    refused = refusal(reply)
    return current.render(
        "sale_form.html",
        refused.status,
        values=_with_blank_rows(submitted_values(form), 1),
        errors=refused.errors,
        error=refused.message,
        sale_id=None,
    )


@router.get("/sales/{sale_id}/edit")
@page("sale_edit")
async def sale_edit_form(request: Request, current: Page) -> Response:
    sale_id = request.path_params["sale_id"]
    body = await current.api_ok("GET", f"/api/sales/{sale_id}/current")
    return current.render(
        "sale_form.html",
        values=_with_blank_rows(form_values(body["sale"]), 1),
        errors={},
        sale_id=sale_id,
        version=body["version"],
    )


@router.post("/sales/{sale_id}/edit")
@page("sale_edit")
async def sale_update(request: Request, current: Page) -> Response:
    sale_id = request.path_params["sale_id"]
    form = await current.check_form()
    version = form.get("version", "")
    if REMOVE_ITEM in form:
        values = _with_blank_rows(_without_item(form), 1)
        return current.render("sale_form.html", values=values, errors={}, sale_id=sale_id, version=version)
    reply = await current.api(
        "PUT", f"/api/sales/{sale_id}", json_body=sale_body(form), headers={"if-match": f'"{version}"'}
    )
    if reply.ok and isinstance(reply.body, dict):
        return RedirectResponse(
            "/sales?" + urlencode({"saved": sale_id, "v": reply.body.get("version", "")}), status_code=303
        )
    refused = refusal(reply)
    if refused.status == 412:
        return await _edit_conflict(current, sale_id, version, form)
    return current.render(
        "sale_form.html",
        refused.status,
        values=_with_blank_rows(submitted_values(form), 1),
        errors=refused.errors,
        error=refused.message,
        sale_id=sale_id,
        version=version,
    )


REMOVE_ITEM = "remove_item"
"""The button on an item row that takes the row out of the form (the form comes back without it)."""


def _without_item(form: dict[str, str]) -> dict[str, Any]:
    removed = f"items.{form.pop(REMOVE_ITEM, '')}."
    return submitted_values({key: value for key, value in form.items() if not key.startswith(removed)})


async def _edit_conflict(current: Page, sale_id: str, version: str, form: dict[str, str]) -> Response:
    """Someone saved the sale after this form was opened: what they changed (version by version,
    from the history), and the form again with the newest version and these edits laid on it, to
    save on top of theirs."""
    latest = await current.api_ok("GET", f"/api/sales/{sale_id}/current")
    history = await current.api("GET", f"/api/sales/{sale_id}/history", query={"limit": 100})
    versions = history.body.get("versions", []) if history.ok and isinstance(history.body, dict) else []
    base = next((v["sale"] for v in versions if str(v["version"]) == version), None)
    mine = sale_body(form)
    newer = [v for v in versions if version.isdigit() and v["version"] > int(version)]
    theirs = [{"entry": v, "changes": changes(_previous(versions, v), v["sale"])} for v in reversed(newer)]
    if base is not None:
        merged, clashes = reapplied(base, mine, latest["sale"]), both_changed(base, mine, latest["sale"])
    else:  # from before history was kept: the edits as typed, over the newest version
        merged, clashes = mine, []
    return current.render(
        "sale_form.html",
        412,
        values=_with_blank_rows(form_values(merged), 1),
        errors={},
        conflict=True,
        theirs=theirs,
        clashes=clashes,
        mine=changes(base, mine) if base is not None else [],
        sale_id=sale_id,
        version=latest["version"],
        opened_version=version,
    )


def _previous(versions: list[dict[str, Any]], entry: dict[str, Any]) -> dict[str, Any] | None:
    older = [v for v in versions if v["version"] < entry["version"]]
    return max(older, key=lambda v: v["version"])["sale"] if older else None


@router.get("/sales/{sale_id}/delete")
@page("sale_delete")
async def sale_delete_form(request: Request, current: Page) -> Response:
    sale_id = request.path_params["sale_id"]
    body = await current.api_ok("GET", f"/api/sales/{sale_id}/current")
    return current.render("sale_delete.html", sale_id=sale_id, version=body["version"], sale=body["sale"])


@router.post("/sales/{sale_id}/delete")
@page("sale_delete")
async def sale_delete(request: Request, current: Page) -> Response:
    sale_id = request.path_params["sale_id"]
    form = await current.check_form()
    version = form.get("version", "")
    reply = await current.api("DELETE", f"/api/sales/{sale_id}", headers={"if-match": f'"{version}"'})
    if reply.ok:
        deleted_version = int(version) + 1 if version.isdigit() else ""
        return RedirectResponse("/sales?" + urlencode({"deleted": sale_id, "v": deleted_version}), status_code=303)
    if reply.status == 412:
        fresh = await current.api_ok("GET", f"/api/sales/{sale_id}/current")
        return current.render(
            "sale_delete.html",
            412,
            sale_id=sale_id,
            version=fresh["version"],
            sale=fresh["sale"],
            conflict="This sale was changed since you opened it. Check it again before deleting.",
        )
    raise reply.problem()


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


async def restore_sale_form(current: Page, target: str, stash: str, pair: TokenPair) -> Response | None:
    """The sale form again with the values sent before the session ended, for the new session."""
    try:
        values = json.loads(stash)
    except ValueError:
        return None
    found = SALE_FORM.fullmatch(target)
    if found is None or not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        return None
    current.caller = await current.gateway.identify(Credentials(bearer=pair.access_token))
    current.caller.via_cookie = True
    sale_id = found.group("sale_id")
    if not current.may("sale_edit" if sale_id else "sale_new"):
        return None
    return current.render(
        "sale_form.html",
        values=_with_blank_rows(submitted_values(values), 1),
        errors={},
        sale_id=sale_id,
        version=values.get("version", ""),
        warning="You are signed in again. What you typed is below and has not been saved yet.",
    )


@router.get("/sales/{sale_id}")
@page("sale")
async def sale_page(request: Request, current: Page) -> Response:
    """Every field of the sale, its items with unit prices and line totals, and (for staff) its
    history, each version as the changes it made. A deleted sale shows its history alone."""
    sale_id = request.path_params["sale_id"]
    before = request.query_params.get("before")
    reply, history, journey = await asyncio.gather(
        current.api("GET", f"/api/sales/{sale_id}"),
        _history(current, sale_id, before if before and before.isdigit() else None),
        journey_for(current, sale_id),
    )
    if not reply.ok and (reply.status != 404 or history is None):
        raise reply.problem()
    view = reply.body if reply.ok else None
    entries = list(history.get("versions", [])) if history else []
    shown = [
        {"entry": entry, "changes": changes(entries[i + 1]["sale"] if i + 1 < len(entries) else None, entry["sale"])}
        for i, entry in enumerate(entries)
    ]
    if history and history.get("next_before") and shown:
        shown[-1]["changes"] = None  # made from a version on the next page of the history
    return current.render(
        "sale.html",
        sale_id=sale_id,
        view=view,
        lines=_lines(view["sale"]) if view else [],
        history=shown if history is not None else None,
        older_href=f"/sales/{sale_id}?before={history['next_before']}"
        if history and history.get("next_before")
        else None,
        can_edit=current.may("sale_edit") and view is not None,
        journey=journey,
    )


async def _history(current: Page, sale_id: str, before: str | None) -> dict[str, Any] | None:
    """The sale's history for those who may read it (None for the others, or when it has none)."""
    if not current.may("sale_history"):
        return None
    reply = await current.api("GET", f"/api/sales/{sale_id}/history", query={"limit": 50, "before": before})
    return reply.body if reply.ok and isinstance(reply.body, dict) else None


def _lines(sale: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**item, "line_total": decimal_text(Decimal(str(item["price"])) * int(item["quantity"]))}
        for item in sale.get("items") or []
    ]
