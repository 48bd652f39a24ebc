"""The customer's purchases, and the sales pages of the staff: search, create, edit, delete, import."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from supply_common.contract.sale import SALE_FILTERS
from supply_gateway.entrypoints.session import CSRF_FIELD, credentials
from supply_gateway.entrypoints.web.filters import plain_filter_errors, read_filters
from supply_gateway.entrypoints.web.form_errors import field_errors, refusal
from supply_gateway.entrypoints.web.forms import form_values, now_input, sale_body, submitted_values
from supply_gateway.entrypoints.web.page import SALE_FORM, Page, date_range, items, page
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


@router.get("/sales")
@page("sales")
async def sales(request: Request, current: Page) -> Response:
    params = request.query_params
    filters = {name: params.get(name, "") for name in SALE_FILTERS}
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
    body: Any = {}
    if not errors:
        query = {**date_range(sent), "cursor": params.get("cursor"), "limit": 25}
        reply = await current.api("GET", "/api/sales", query=query)
        if reply.status == 422:
            errors = plain_filter_errors(field_errors(reply.problem()))
        elif not reply.ok:
            raise reply.problem()
        else:
            body = reply.body
    if errors:
        warning = "Some filters need a change: see the marked fields."
    next_cursor = body.get("next_cursor") if isinstance(body, dict) else None
    next_query = urlencode({**{k: v for k, v in filters.items() if v}, "cursor": next_cursor}) if next_cursor else None
    return current.render(
        "sales.html",
        sales=items(body),
        filters=filters,
        errors=errors,
        notice=notice,
        warning=warning,
        highlight=highlight,
        next_query=next_query,
        paged=bool(params.get("cursor")),
        first_query=urlencode({k: v for k, v in filters.items() if v}),
        can_edit=current.may("sale_edit"),
    )


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
    reply = await current.api(
        "PUT", f"/api/sales/{sale_id}", json_body=sale_body(form), headers={"if-match": f'"{version}"'}
    )
    if reply.ok and isinstance(reply.body, dict):
        return RedirectResponse(
            "/sales?" + urlencode({"saved": sale_id, "v": reply.body.get("version", "")}), status_code=303
        )
    refused = refusal(reply)
    conflict = None
    if refused.status == 412:
        current_version = refused.problem.extra.get("current_version")
        conflict = (
            f"Someone else changed this sale since you opened it"
            f"{f' (it is now at version {current_version})' if current_version else ''}. "
            "Your changes are below but were not saved."
        )
    return current.render(
        "sale_form.html",
        refused.status,
        values=_with_blank_rows(submitted_values(form), 1),
        errors=refused.errors,
        error=None if conflict else refused.message,
        conflict=conflict,
        sale_id=sale_id,
        version=version,
    )


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
