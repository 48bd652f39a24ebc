"""The staff directory of the senior management: list, create, change a role, disable."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from supply_gateway.entrypoints.web.form_errors import refusal
from supply_gateway.entrypoints.web.page import Page, items, page

router = APIRouter(include_in_schema=False)


@router.get("/staff")
@page("staff")
async def staff(request: Request, current: Page) -> Response:
    return await _staff_page(request, current)


async def _staff_page(request: Request, current: Page, status: int = 200, **context: Any) -> Response:
    role = request.query_params.get("role") or None
    body = await current.api_ok(
        "GET", "/api/users", query={"role": role, "cursor": request.query_params.get("cursor"), "limit": 100}
    )
    context.setdefault("values", {})
    context.setdefault("errors", {})
    return current.render(
        "staff.html",
        status,
        users=items(body),
        role_filter=role or "",
        next_cursor=body.get("next_cursor") if isinstance(body, dict) else None,
        **context,
    )


@router.post("/staff")
@page("staff")
async def staff_create(request: Request, current: Page) -> Response:
    form = await current.check_form()
    account = {key: form.get(key, "") for key in ("email", "name", "password", "role")}
    reply = await current.api("POST", "/api/users", json_body=account)
    if reply.ok:
        return RedirectResponse("/staff?" + urlencode({"created": account["email"]}), status_code=303)
    refused = refusal(reply)
    message = "An account with this email already exists." if refused.status == 409 else refused.message
    return await _staff_page(
        request,
        current,
        refused.status,
        values={k: v for k, v in account.items() if k != "password"},
        errors=refused.errors,
        error=message,
    )


@router.post("/staff/{user_id}")
@page("staff")
async def staff_update(request: Request, current: Page) -> Response:
    user_id = request.path_params["user_id"]
    form = await current.check_form()
    change: dict[str, Any] = {}
    if form.get("action") == "role":
        change["role"] = form.get("role", "")
    elif form.get("action") in ("disable", "enable"):
        change["disabled"] = form.get("action") == "disable"
    email = form.get("email", user_id)
    identity = current.caller.identity
    own_role_change = (
        identity is not None and identity.user_id == user_id and change.get("role") not in (None, identity.role)
    )
    if own_role_change and form.get("confirm") != "yes":
        return await _staff_page(request, current, confirm_own_role={"id": user_id, "email": email, **change})
    reply = await current.api("PATCH", f"/api/users/{user_id}", json_body=change)
    if reply.ok:
        return RedirectResponse("/staff?" + urlencode({"updated": email}), status_code=303)
    problem = refusal(reply).problem
    if reply.status == 409:
        reason = (
            "the last active senior manager cannot be demoted or disabled. Make another account a senior manager first."
        )
    elif reply.status == 422:
        reason = "choose one of the listed roles."
    elif reply.status == 404:
        reason = "the account no longer exists."
    else:
        reason = problem.problem.detail or problem.problem.title
    return await _staff_page(request, current, reply.status, error=f"{email} was not changed: {reason}")
