"""The staff directory of the senior management: staff and customers on separate tabs with search and
sort; invitations by email; role changes and disabling, each confirmed first and then named in a
notice; a new password link for accounts whose owner has not chosen a password yet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from supply_gateway.entrypoints.web.form_errors import refusal
from supply_gateway.entrypoints.web.page import Page, items, page
from supply_gateway.entrypoints.web.rendering import ROLE_NAMES

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    roles: tuple[str, ...]


TABS = (
    Tab("staff", "Staff", ("technical_worker", "senior_management")),
    Tab("customers", "Customers", ("customer",)),
)
SORTS: Mapping[str, str] = {
    "name": "Name (A to Z)",
    "email": "Email (A to Z)",
    "-last_login": "Last sign-in (newest first)",
    "-created": "Newest accounts first",
    "created": "Oldest accounts first",
}
"""The orders the page offers (auth's `sort` values), with what the user reads."""


def _view(values: Mapping[str, str]) -> dict[str, str]:
    """What the list shows (tab, search, sort), from a page's query or a form, as carried in links
    and back after each change."""
    tab, sort = values.get("tab", ""), values.get("sort", "")
    return {
        "tab": tab if tab in {t.key for t in TABS} else TABS[0].key,
        "q": values.get("q", "").strip()[:100],
        "sort": sort if sort in SORTS else "name",
    }


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset", "0")
    return min(int(raw), 100_000) if raw.isdigit() else 0


def signed_in(value: Any) -> str:
    """A last sign-in for the table: the UTC date and time to the minute, or "Never"."""
    if not value:
        return "Never"
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return "Never"
    return moment.strftime("%d %b %Y, %H:%M UTC")


def notice(query: Mapping[str, str]) -> str | None:
    """The sentence that names the change just made, from the redirect's query (never free text:
    only an address and known role names are shown, escaped by the template)."""
    email, done = query.get("email", ""), query.get("done", "")
    if not email or not done:
        return None
    role, previous = ROLE_NAMES.get(query.get("role", ""), ""), ROLE_NAMES.get(query.get("from", ""), "")
    if done == "role" and role:
        return f"{email} is now {role}" + (f" (was {previous})." if previous else ".")
    return {
        "disabled": f"{email} is disabled: signed out everywhere, and cannot sign in until enabled again.",
        "enabled": f"{email} is enabled: they can sign in again.",
        "invited": f"Invitation sent to {email}: they choose their own password through the link in it.",
        "resent": f"A new link was sent to {email}; the earlier one no longer works.",
    }.get(done)


@router.get("/staff")
@page("staff")
async def staff(request: Request, current: Page) -> Response:
    return await _staff_page(request, current)


async def _staff_page(
    request: Request, current: Page, status: int = 200, view: dict[str, str] | None = None, **context: Any
) -> Response:
    """The directory; after a form, `view` is the list the form came from (its tab, search, sort)."""
    view = view or _view(request.query_params)
    tab = next(t for t in TABS if t.key == view["tab"])
    offset = _offset(request)
    query = {"role": list(tab.roles), "q": view["q"], "sort": view["sort"], "offset": offset, "limit": PAGE_SIZE}
    body = await current.api_ok("GET", "/api/users", query=query)
    totals = {tab.key: body.get("total") if isinstance(body, dict) else None}
    for other in TABS:
        if other.key != tab.key:
            counted = await current.api("GET", "/api/users", query={"role": list(other.roles), "limit": 1})
            totals[other.key] = counted.body.get("total") if counted.ok and isinstance(counted.body, dict) else None
    context.setdefault("values", {})
    context.setdefault("errors", {})
    next_offset = body.get("next_offset") if isinstance(body, dict) else None
    return current.render(
        "staff.html",
        status,
        users=items(body),
        tabs=TABS,
        tab=tab,
        totals=totals,
        view=view,
        sorts=SORTS,
        offset=offset,
        previous_offset=max(0, offset - PAGE_SIZE) if offset else None,
        next_offset=next_offset,
        page_size=PAGE_SIZE,
        notice=notice(request.query_params),
        signed_in=signed_in,
        **context,
    )


def _back(view: Mapping[str, str], **done: str) -> RedirectResponse:
    return RedirectResponse("/staff?" + urlencode({**view, **done}), status_code=303)


@router.post("/staff")
@page("staff")
async def staff_invite(request: Request, current: Page) -> Response:
    form = await current.check_form()
    account = {key: form.get(key, "") for key in ("email", "name", "role")}
    reply = await current.api("POST", "/api/users", json_body=account)
    if reply.ok:
        invited = reply.body if isinstance(reply.body, dict) else {}
        return _back(_view(form), done="invited", email=str(invited.get("email") or account["email"]))
    refused = refusal(reply)
    message = "An account with this email already exists." if refused.status == 409 else refused.message
    return await _staff_page(
        request, current, refused.status, _view(form), values=account, errors=refused.errors, error=message
    )


CONFIRMED_ACTIONS = frozenset({"role", "disable"})
"""Changes the manager confirms on a second step: they end the person's sessions at once."""


@router.post("/staff/{user_id}")
@page("staff")
async def staff_update(request: Request, current: Page) -> Response:
    user_id = request.path_params["user_id"]
    form = await current.check_form()
    view = _view(form)
    action = form.get("action", "")
    email = form.get("email", user_id)
    if action == "resend":
        reply = await current.api("POST", f"/api/users/{user_id}/password-link")
        if reply.ok:
            return _back(view, done="resent", email=email)
        reason = (
            "they have chosen a password already, or the account is disabled."
            if reply.status == 409
            else _reason(reply)
        )
        return await _staff_page(request, current, reply.status, view, error=f"No link was sent to {email}: {reason}")
    change: dict[str, Any] = {}
    if action == "role":
        change["role"] = form.get("role", "")
        if change["role"] == form.get("from"):
            return _back(view)
    elif action in ("disable", "enable"):
        change["disabled"] = action == "disable"
    else:
        return _back(view)
    if action in CONFIRMED_ACTIONS and form.get("confirm") != "yes":
        identity = current.caller.identity
        confirm = {
            "id": user_id,
            "email": email,
            "action": action,
            "role": change.get("role", ""),
            "from": form.get("from", ""),
            "own": identity is not None and identity.user_id == user_id,
        }
        return await _staff_page(request, current, 200, view, confirm=confirm)
    reply = await current.api("PATCH", f"/api/users/{user_id}", json_body=change)
    if reply.ok:
        if action == "role":
            return _back(view, done="role", email=email, role=change["role"], **{"from": form.get("from", "")})
        return _back(view, done="disabled" if change.get("disabled") else "enabled", email=email)
    if reply.status == 409:
        reason = (
            "the last active senior manager cannot be demoted or disabled. Make another account a senior manager first."
        )
    elif reply.status == 422:
        reason = "choose one of the listed roles."
    else:
        reason = _reason(reply)
    return await _staff_page(request, current, reply.status, view, error=f"{email} was not changed: {reason}")


def _reason(reply: Any) -> str:
    if reply.status == 404:
        return "the account no longer exists."
    problem = refusal(reply).problem
    return str(problem.problem.detail or problem.problem.title)
