"""The web UI: server-rendered pages that call the public API on the signed-in user's behalf."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from supply_common.contract.sale import PURCHASE_METHODS, SALE_FILTERS, STORES
from supply_common.identity import ROLES
from supply_common.problems import ProblemError
from supply_gateway.config import GatewaySettings
from supply_gateway.domain.policy import Policy
from supply_gateway.entrypoints import charts
from supply_gateway.entrypoints.forms import form_values, plain_errors, sale_body, submitted_values
from supply_gateway.entrypoints.openapi import openapi_document
from supply_gateway.entrypoints.session import (
    ACCESS_COOKIE,
    CSRF_FIELD,
    REFRESH_COOKIE,
    apply_session,
    clear_tokens,
    client_address,
    credentials,
    csrf_token,
    set_csrf,
    set_tokens,
)
from supply_gateway.service_layer.gateway import (
    Caller,
    Credentials,
    Gateway,
    Reply,
    TokenPair,
    check_csrf,
    token_pair,
)

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

PAGES: Mapping[str, tuple[str, str]] = {
    "purchases": ("GET", "/api/me/sales"),
    "sales": ("GET", "/api/sales"),
    "sale_new": ("POST", "/api/sales"),
    "sale_edit": ("PUT", "/api/sales/{id}"),
    "sale_delete": ("DELETE", "/api/sales/{id}"),
    "import": ("POST", "/api/sales/import"),
    "dashboard": ("GET", "/api/analytics/summary"),
    "staff": ("GET", "/api/users"),
    "ops": ("GET", "/api/ops/replication"),
}
"""Each page is open to whoever may call the API route it is built on, so the policy table decides."""

NAV = (
    ("purchases", "/purchases", "My purchases"),
    ("dashboard", "/dashboard", "Dashboard"),
    ("sales", "/sales", "Sales"),
    ("import", "/sales/import", "Import"),
    ("ops", "/ops", "Replication"),
    ("staff", "/staff", "Staff"),
)
HOME = {"customer": "/purchases", "technical_worker": "/sales", "senior_management": "/dashboard"}
ROLE_NAMES = {"customer": "Customer", "technical_worker": "Technical worker", "senior_management": "Senior management"}


FIX_FIELDS = "Please correct the marked fields."
UNCONFIRMED = (
    "Confirm your email first: open the link we mailed you. "
    "No mail? Register again with the same email to get a new link."
)


class LoginRequired(Exception):
    pass


class PageForbidden(Exception):
    pass


@dataclass
class Page:
    request: Request
    caller: Caller
    csrf: str
    new_csrf: bool
    cookies: list[Callable[[Response], None]] = field(default_factory=list)

    @property
    def gateway(self) -> Gateway:
        return self.request.app.state.gateway

    @property
    def settings(self) -> GatewaySettings:
        return self.request.app.state.settings

    @property
    def role(self) -> str | None:
        return self.caller.role

    def may(self, page: str) -> bool:
        policy: Policy = self.request.app.state.policy
        role = self.caller.role
        return role is not None and policy.rule(*PAGES[page]).allows(role)

    async def api(self, method: str, path: str, **kwargs: Any) -> Reply:
        return await self.gateway.call(
            self.caller,
            method,
            path,
            request_id=self.request.state.request_id,
            address=client_address(self.request, self.settings),
            **kwargs,
        )

    async def api_ok(self, method: str, path: str, **kwargs: Any) -> Any:
        reply = await self.api(method, path, **kwargs)
        if not reply.ok:
            raise reply.problem()
        return reply.body

    async def check_form(self) -> dict[str, str]:
        form = await self.request.form()
        values = {key: value for key, value in form.items() if isinstance(value, str)}
        check_csrf(credentials(self.request, self.settings, csrf_submitted=values.get(CSRF_FIELD, "")))
        return values

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        nav = [(href, label, href == self.request.url.path) for name, href, label in NAV if self.may(name)]
        identity = self.caller.identity
        return templates.TemplateResponse(
            self.request,
            template,
            {
                "page": self,
                "identity": identity,
                "role_name": ROLE_NAMES.get(identity.role, "") if identity else "",
                "nav": nav,
                "csrf": self.csrf,
                "stores": STORES,
                "methods": PURCHASE_METHODS,
                "roles": ROLES,
                "role_names": ROLE_NAMES,
                "status_code": status,
                **context,
            },
            status_code=status,
        )


Handler = Callable[[Request, Page], Awaitable[Response]]


FRAGMENTS: Mapping[str, str] = {"/ops/panel": "/ops"}
"""Parts of a page that its script fetches, and the page each belongs to. They are never a
destination after signing in, and a signed-out fetch gets a bare 401 rather than the login page."""


def page(
    name: str | None = None, *, signed_in: bool = True, fragment: bool = False
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a page handler: identify the browser session, refuse roles the page's API route refuses,
    render problems as pages, and carry session and CSRF cookies on every answer. A `fragment`
    answers a signed-out or refused caller with a bare status for its script to act on."""

    def decorate(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            settings: GatewaySettings = request.app.state.settings
            gateway: Gateway = request.app.state.gateway
            token, new_csrf = csrf_token(request)
            caller = Caller(via_cookie=True)
            current = Page(request, caller, token, new_csrf)
            try:
                try:
                    current.caller = caller = await gateway.identify(credentials(request, settings, csrf_submitted=""))
                except ProblemError as exc:
                    if exc.problem.status != 401:
                        raise
                    caller.session_ended = True
                if (name or signed_in) and caller.identity is None:
                    raise LoginRequired
                if name and not current.may(name):
                    raise PageForbidden
                response = await handler(request, current)
            except LoginRequired:
                if fragment:
                    response = Response("Sign in again.", 401, media_type="text/plain")
                elif request.method == "POST":
                    response = await _signed_out_post(request, current)
                else:
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    query = {"next": target}
                    if caller.session_ended or _had_session(request):
                        query["reason"] = "ended"
                    response = RedirectResponse("/login?" + urlencode(query), status_code=303)
            except PageForbidden:
                if fragment:
                    response = Response("Not allowed.", 403, media_type="text/plain")
                else:
                    response = current.render(
                        "error.html", 403, title="Not allowed", message="Your role may not open this page."
                    )
            except ProblemError as exc:
                response = current.render(
                    "error.html",
                    exc.problem.status,
                    title=exc.problem.title,
                    message=exc.problem.detail or "The request failed.",
                )
            apply_session(response, request, settings, caller)
            if new_csrf:
                set_csrf(response, request, settings, token)
            for apply in current.cookies:
                apply(response)
            response.headers["cache-control"] = "no-store"
            return response

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return decorate


SALE_FORM = re.compile(r"/sales/(?:new|(?P<sale_id>[A-Za-z0-9]{1,64})/edit)")
"""The pages whose typed values survive a session that ended before they were saved."""
LOGIN_NOTICES = {
    "ended": "Your session ended — sign in again.",
    "unsaved": "Your session ended, so your changes were not saved — sign in again and make them once more.",
}


def _had_session(request: Request) -> bool:
    return bool(request.cookies.get(ACCESS_COOKIE) or request.cookies.get(REFRESH_COOKIE))


async def _signed_out_post(request: Request, current: Page) -> Response:
    """A form sent after the session ended: nothing is saved. A sale form's values go along the sign-in
    round trip in the login form (only when the post passes the CSRF check, so another site cannot
    fill the form for the user), and come back in the form once signed in again."""
    path = request.url.path
    back = "/staff" if path.startswith("/staff/") else path
    if SALE_FORM.fullmatch(path):
        form = await request.form()
        values = {key: value for key, value in form.items() if isinstance(value, str) and key != CSRF_FIELD}
        token = form.get(CSRF_FIELD)
        try:
            check_csrf(credentials(request, current.settings, csrf_submitted=token if isinstance(token, str) else ""))
        except ProblemError:
            values = {}
        if values:
            return current.render(
                "login.html",
                401,
                values={},
                errors={},
                warning="Your session ended before the sale was saved. Sign in again to get back to it with "
                "what you typed; nothing has been saved yet.",
                next=back,
                stash=json.dumps(values),
            )
    return RedirectResponse("/login?" + urlencode({"next": back, "reason": "unsaved"}), status_code=303)


async def _restore_sale_form(current: Page, target: str, stash: str, pair: TokenPair) -> Response | None:
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


def _safe_next(target: str | None, fallback: str = "/") -> str:
    """Where to go after signing in: a path on this site, and a whole page (a fragment's page)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        path = target.split("?", 1)[0].split("#", 1)[0]
        return FRAGMENTS.get(path.rstrip("/") or "/", target)
    return fallback


def _errors(problem: ProblemError) -> dict[str, str]:
    return {error.field: error.reason for error in problem.problem.errors}


def _date_range(values: Mapping[str, Any]) -> dict[str, Any]:
    """Dates picked in the UI (`YYYY-MM-DD`) as the RFC 3339 bounds the read API takes, whole days in UTC."""
    bounds = dict(values)
    for key, clock in (("date_from", "00:00:00.000"), ("date_to", "23:59:59.999")):
        value = bounds.get(key)
        if value and len(value) == 10:
            bounds[key] = f"{value}T{clock}Z"
    return bounds


def _form_message(problem: ProblemError) -> str:
    if problem.problem.errors:
        return "Please correct the marked fields."
    return problem.problem.detail or problem.problem.title


def _items(body: Any) -> list[Any]:
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        return list(body.get("items") or [])
    return []


def _money(value: Any) -> str:
    try:
        return f"{Decimal(str(value)):,.2f}"
    except (InvalidOperation, ValueError):
        return "-"


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _ago(seconds: Any) -> str:
    """A time since, as people say it: `just now`, `40 s ago`, `5 min ago`, `3 h ago`, `2 d ago`."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return "–"
    if value < 5:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if value >= size:
            return f"{int(value // size)} {unit} ago"
    return f"{int(value)} s ago"


templates.env.filters["money"] = _money
templates.env.filters["ago"] = _ago
templates.env.filters["error_id"] = lambda field: "error-" + re.sub(r"[^A-Za-z0-9_-]", "-", str(field))


# --- sign in, register, sign out -------------------------------------------------------------------


@router.get("/")
@page(signed_in=False)
async def home(request: Request, current: Page) -> Response:
    if current.caller.identity is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(HOME[current.caller.identity.role], status_code=303)


@router.get("/login")
@page(signed_in=False)
async def login_form(request: Request, current: Page) -> Response:
    notice = None
    if request.query_params.get("bye"):
        notice = "You have been signed out."
    elif request.query_params.get("confirmed"):
        notice = "Your email is confirmed. Sign in to continue."
    warning = LOGIN_NOTICES.get(request.query_params.get("reason", ""))
    return current.render(
        "login.html",
        values={},
        errors={},
        notice=notice,
        warning=warning,
        next=request.query_params.get("next", ""),
    )


@router.post("/login")
@page(signed_in=False)
async def login(request: Request, current: Page) -> Response:
    form = await current.check_form()
    values = {"email": form.get("email", "")}
    next_page = form.get("next", "")
    try:
        body = await current.api_ok(
            "POST", "/api/auth/login", json_body={"email": form.get("email", ""), "password": form.get("password", "")}
        )
    except ProblemError as exc:
        status = exc.problem.status
        if status == 429:
            message = (
                f"Too many sign-in attempts. Wait {exc.headers.get('Retry-After', 'a few')} seconds and try again."
            )
        elif status in (400, 401):
            message = "That email and password do not match an account."
        elif status == 403:
            message = UNCONFIRMED
        elif status == 422:
            message = "Please correct the marked fields."
        elif status >= 500:
            message = "Signing in is not possible right now. Please try again shortly."
        else:
            message = exc.problem.detail or exc.problem.title
        return current.render(
            "login.html",
            status,
            values=values,
            errors=_errors(exc),
            error=message,
            next=next_page,
            stash=form.get("stash"),
        )
    pair = token_pair(body)
    target = _safe_next(next_page)
    restored = await _restore_sale_form(current, target, form["stash"], pair) if form.get("stash") else None
    response = restored or RedirectResponse(target, status_code=303)
    current.cookies.append(lambda r: set_tokens(r, request, current.settings, pair))
    return response


@router.get("/register")
@page(signed_in=False)
async def register_form(request: Request, current: Page) -> Response:
    return current.render("register.html", values={}, errors={})


@router.post("/register")
@page(signed_in=False)
async def register(request: Request, current: Page) -> Response:
    form = await current.check_form()
    values = {"email": form.get("email", ""), "name": form.get("name", "")}
    try:
        await current.api_ok("POST", "/api/auth/register", json_body=values)
    except ProblemError as exc:
        status = exc.problem.status
        if status == 429:
            message = f"Too many attempts. Wait {exc.headers.get('Retry-After', 'a few')} seconds and try again."
        elif status == 422:
            message = "Please correct the marked fields."
        else:
            message = exc.problem.detail or exc.problem.title
        return current.render("register.html", status, values=values, errors=_errors(exc), error=message)
    return current.render("register_sent.html", 202, email=values["email"].strip())


@router.get("/verify-email")
@page(signed_in=False)
async def choose_password_form(request: Request, current: Page) -> Response:
    """The page the mailed link opens, titled "Choose your password". It changes nothing by itself
    (mail scanners open links): the password is set when its form is sent."""
    return current.render("verify_email.html", token=request.query_params.get("token", ""), errors={})


@router.post("/verify-email")
@page(signed_in=False)
async def choose_password(request: Request, current: Page) -> Response:
    """Sets the password with the link's token, which also confirms the email, and signs in."""
    form = await current.check_form()
    token = form.get("token", "")
    password = form.get("password", "")
    if password != form.get("password_confirm", ""):
        errors = {"password_confirm": "The two passwords differ."}
        return current.render("verify_email.html", 422, token=token, errors=errors, error=FIX_FIELDS)
    reply = await current.api("POST", "/api/auth/verify-email", json_body={"token": token, "password": password})
    if reply.ok:
        pair = token_pair(reply.body)
        current.cookies.append(lambda r: set_tokens(r, request, current.settings, pair))
        return RedirectResponse("/", status_code=303)
    if reply.status >= 500:
        raise reply.problem()
    if reply.status == 422:
        problem = reply.problem()
        return current.render("verify_email.html", 422, token=token, errors=_errors(problem), error=FIX_FIELDS)
    if reply.status == 429:
        message = f"Too many attempts. Wait {reply.headers.get('retry-after', 'a few')} seconds and try again."
        return current.render("verify_email.html", 429, token=token, errors={}, error=message)
    message = (
        "This link does not work: it was used already, a newer one was sent, or it expired. "
        "Register again with the same email to get a new link."
    )
    return current.render("verify_email.html", reply.status, token="", errors={}, error=message)


@router.post("/logout")
@page(signed_in=False)
async def logout(request: Request, current: Page) -> Response:
    await current.check_form()
    presented = request.cookies.get(REFRESH_COOKIE)
    refreshed = current.caller.new_tokens.refresh_token if current.caller.new_tokens else None
    refresh = refreshed or presented
    if current.caller.identity is not None and refresh:
        try:
            await current.api("POST", "/api/auth/logout", json_body={"refresh_token": refresh})
        except ProblemError as exc:
            log.warning("logout at auth failed", extra={"status": exc.problem.status})
    current.gateway.end_session(presented, refreshed)
    current.caller.new_tokens = None
    response = RedirectResponse("/login?bye=1", status_code=303)
    current.cookies.append(lambda r: clear_tokens(r, request, current.settings))
    return response


# --- customer ------------------------------------------------------------------------------------


@router.get("/purchases")
@page("purchases")
async def purchases(request: Request, current: Page) -> Response:
    body = await current.api_ok(
        "GET", "/api/me/sales", query={"cursor": request.query_params.get("cursor"), "limit": 50}
    )
    totals = body.get("totals", body) if isinstance(body, dict) else {}
    return current.render(
        "purchases.html",
        sales=_items(body),
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
    query = {**_date_range(filters), "cursor": params.get("cursor"), "limit": 25}
    reply = await current.api("GET", "/api/sales", query=query)
    errors: dict[str, str] = {}
    body: Any = {}
    if reply.status == 422:
        errors = _errors(reply.problem())
        warning = "Some filters are not valid: " + "; ".join(f"{k}: {v}" for k, v in errors.items())
    elif not reply.ok:
        raise reply.problem()
    else:
        body = reply.body
    next_cursor = body.get("next_cursor") if isinstance(body, dict) else None
    next_query = urlencode({**{k: v for k, v in filters.items() if v}, "cursor": next_cursor}) if next_cursor else None
    return current.render(
        "sales.html",
        sales=_items(body),
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
    values = _with_blank_rows(_blank_sale(), 3)
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
    problem = reply.problem()
    if reply.status >= 500:
        raise problem
    return current.render(
        "sale_form.html",
        reply.status,
        values=_with_blank_rows(submitted_values(form), 1),
        errors=plain_errors(_errors(problem)),
        error=_form_message(problem),
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
    problem = reply.problem()
    if reply.status >= 500:
        raise problem
    conflict = None
    if reply.status == 412:
        current_version = problem.extra.get("current_version")
        conflict = (
            f"Someone else changed this sale since you opened it"
            f"{f' (it is now at version {current_version})' if current_version else ''}. "
            "Your changes are below but were not saved."
        )
    return current.render(
        "sale_form.html",
        reply.status,
        values=_with_blank_rows(submitted_values(form), 1),
        errors=plain_errors(_errors(problem)),
        error=None if conflict else _form_message(problem),
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


# --- replication ---------------------------------------------------------------------------------


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


# --- senior management -----------------------------------------------------------------------------


def _keyed(rows: list[Any], key: str = "key", value: str = "revenue") -> list[tuple[str, float]]:
    return [(str(row.get(key)), _number(row.get(value))) for row in rows if isinstance(row, dict)]


@router.get("/dashboard")
@page("dashboard")
async def dashboard(request: Request, current: Page) -> Response:
    picked = {"date_from": request.query_params.get("date_from"), "date_to": request.query_params.get("date_to")}
    errors = _period_errors(picked)
    if errors:
        return _dashboard_refused(current, picked, errors)
    window = _date_range(picked)
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
            for field, reason in _errors(refused.problem()).items()
            if field.removeprefix("query.") in picked
        }
        return _dashboard_refused(current, picked, errors or {"date_from": "Choose another period."})
    for reply in replies:
        if not reply.ok:
            raise reply.problem()
    summary, by_store, by_month, by_method, top, satisfaction, coupons = (reply.body for reply in replies)
    by_store, by_month, by_method, top, satisfaction = map(_items, (by_store, by_month, by_method, top, satisfaction))
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
        users=_items(body),
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
    problem = reply.problem()
    if reply.status >= 500:
        raise problem
    message = "An account with this email already exists." if reply.status == 409 else _form_message(problem)
    return await _staff_page(
        request,
        current,
        reply.status,
        values={k: v for k, v in account.items() if k != "password"},
        errors=plain_errors(_errors(problem)),
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
    problem = reply.problem()
    if reply.status >= 500:
        raise problem
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


# --- API reference ---------------------------------------------------------------------------------


@router.get("/docs")
@page(signed_in=False)
async def docs(request: Request, current: Page) -> Response:
    policy: Policy = request.app.state.policy
    return current.render("docs.html", rules=policy.rules)


@router.get("/openapi.json")
async def openapi(request: Request) -> Response:
    return JSONResponse(
        openapi_document(request.app.state.policy, title="Supply Store API", version=request.app.version)
    )
