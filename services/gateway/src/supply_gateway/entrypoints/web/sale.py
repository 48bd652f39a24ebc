"""One sale: its page with items and history, and the forms that create, edit (with what others
changed meanwhile) and delete it."""

from __future__ import annotations

import asyncio
import json
import secrets
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from supply_common.contract import decimal_text
from supply_gateway.entrypoints.web.form_errors import refusal
from supply_gateway.entrypoints.web.forms import form_values, now_input, sale_body, submitted_values
from supply_gateway.entrypoints.web.journey import journey_for
from supply_gateway.entrypoints.web.page import SALE_FORM, Page, page
from supply_gateway.entrypoints.web.sale_changes import both_changed, changes, reapplied
from supply_gateway.service_layer.callers import Credentials, Reply, TokenPair

router = APIRouter(include_in_schema=False)
"""Its `/sales/new` comes before `/sales/{sale_id}`, and `sales.router` (`/sales/import`) is
included before it."""


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
        return _without_item(current, form, sale_id=None)
    reply = await current.api(
        "POST",
        "/api/sales",
        json_body=sale_body(form),
        headers={"idempotency-key": form.get("idempotency_key", "")} if form.get("idempotency_key") else None,
    )
    if reply.ok and isinstance(reply.body, dict):
        return _to_list(saved=reply.body["id"], v=reply.body.get("version", 1))
    return _refused(current, reply, form, sale_id=None)


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
    sale_id, form, version = await _opened_at_version(request, current)
    if REMOVE_ITEM in form:
        return _without_item(current, form, sale_id, version)
    reply = await current.api("PUT", f"/api/sales/{sale_id}", json_body=sale_body(form), headers=_if_match(version))
    if reply.ok and isinstance(reply.body, dict):
        return _to_list(saved=sale_id, v=reply.body.get("version", ""))
    if reply.status == 412:
        return await _edit_conflict(current, sale_id, version, form)
    return _refused(current, reply, form, sale_id, version)


async def _opened_at_version(request: Request, current: Page) -> tuple[str, dict[str, str], str]:
    """The sale a form changes, the form (its CSRF token checked) and the version it was opened at,
    which the change must still find (`_if_match`)."""
    form = await current.check_form()
    return request.path_params["sale_id"], form, form.get("version", "")


def _if_match(version: str) -> dict[str, str]:
    return {"if-match": f'"{version}"'}


def _to_list(**outcome: Any) -> Response:
    """Back to the sales list, which names the sale saved or deleted (`outcome`) once its copy shows it."""
    return RedirectResponse("/sales?" + urlencode(outcome), status_code=303)


def _refused(current: Page, reply: Reply, form: dict[str, str], sale_id: str | None, version: str = "") -> Response:
    """The form again as it was sent, with the API's reasons (`sale_id` None: a new sale)."""
    refused = refusal(reply)
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


def _without_item(current: Page, form: dict[str, str], sale_id: str | None, version: str = "") -> Response:
    """The form again without the item row whose `REMOVE_ITEM` button was pressed."""
    removed = f"items.{form.pop(REMOVE_ITEM, '')}."
    values = submitted_values({key: value for key, value in form.items() if not key.startswith(removed)})
    return current.render(
        "sale_form.html", values=_with_blank_rows(values, 1), errors={}, sale_id=sale_id, version=version
    )


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
    return await _delete_confirmation(current, request.path_params["sale_id"])


@router.post("/sales/{sale_id}/delete")
@page("sale_delete")
async def sale_delete(request: Request, current: Page) -> Response:
    sale_id, _, version = await _opened_at_version(request, current)
    reply = await current.api("DELETE", f"/api/sales/{sale_id}", headers=_if_match(version))
    if reply.ok:
        deleted_version = int(version) + 1 if version.isdigit() else ""
        return _to_list(deleted=sale_id, v=deleted_version)
    if reply.status == 412:
        changed = "This sale was changed since you opened it. Check it again before deleting."
        return await _delete_confirmation(current, sale_id, 412, conflict=changed)
    raise reply.problem()


async def _delete_confirmation(current: Page, sale_id: str, status: int = 200, conflict: str | None = None) -> Response:
    """The page that asks to confirm deleting the sale as it is stored now, whose version the form
    sends back."""
    stored = await current.api_ok("GET", f"/api/sales/{sale_id}/current")
    return current.render(
        "sale_delete.html", status, sale_id=sale_id, version=stored["version"], sale=stored["sale"], conflict=conflict
    )


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
