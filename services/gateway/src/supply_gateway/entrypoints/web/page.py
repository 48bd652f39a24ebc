"""The page machinery: who may open a page (the policy table decides), the `page` decorator that
identifies the browser session and renders problems as pages, and what happens to a page or form
reached after the session ended."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from supply_common.contract.sale import PURCHASE_METHODS, STORES
from supply_common.identity import ROLES
from supply_common.problems import ProblemError
from supply_gateway.config import GatewaySettings
from supply_gateway.domain.policy import Policy
from supply_gateway.entrypoints.deps import get_container
from supply_gateway.entrypoints.session import (
    ACCESS_COOKIE,
    CSRF_FIELD,
    REFRESH_COOKIE,
    apply_session,
    client_address,
    credentials,
    csrf_token,
    set_csrf,
)
from supply_gateway.entrypoints.web.rendering import NAV, ROLE_NAMES, TITLES, templates
from supply_gateway.service_layer.callers import Caller, Reply, check_csrf
from supply_gateway.service_layer.gateway import Gateway

PAGES: Mapping[str, tuple[str, str]] = {
    "purchases": ("GET", "/api/me/sales"),
    "sales": ("GET", "/api/sales"),
    "sale": ("GET", "/api/sales/{id}"),
    "sale_history": ("GET", "/api/sales/{id}/history"),
    "sale_new": ("POST", "/api/sales"),
    "sale_edit": ("PUT", "/api/sales/{id}"),
    "sale_delete": ("DELETE", "/api/sales/{id}"),
    "import": ("POST", "/api/sales/import"),
    "dashboard": ("GET", "/api/analytics/summary"),
    "staff": ("GET", "/api/users"),
    "ops": ("GET", "/api/ops/replication"),
    "ops_repair": ("POST", "/api/ops/sales/{id}/repair"),
    "journey": ("GET", "/api/ops/sales/{id}/journey"),
}
"""Each page is open to whoever may call the API route it is built on, so the policy table decides."""

HOME = {"customer": "/purchases", "technical_worker": "/sales", "senior_management": "/dashboard"}


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
        return get_container(self.request).gateway

    @property
    def settings(self) -> GatewaySettings:
        return get_container(self.request).settings

    @property
    def policy(self) -> Policy:
        return get_container(self.request).policy

    @property
    def role(self) -> str | None:
        return self.caller.role

    def may(self, page: str) -> bool:
        role = self.caller.role
        return role is not None and self.policy.rule(*PAGES[page]).allows(role)

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
            container = get_container(request)
            settings, gateway = container.settings, container.gateway
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
                status = exc.problem.status
                plain = status >= 500 or status == 429
                response = current.render(
                    "error.html",
                    status,
                    title=TITLES.get(status, exc.problem.title) if plain else exc.problem.title,
                    message=exc.problem.detail or "The request failed.",
                    reference=request.state.request_id if status >= 500 else None,
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


def safe_next(target: str | None, fallback: str = "/") -> str:
    """Where to go after signing in: a path on this site, and a whole page (a fragment's page)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        path = target.split("?", 1)[0].split("#", 1)[0]
        return FRAGMENTS.get(path.rstrip("/") or "/", target)
    return fallback


PAGE_PATHS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"/purchases/?", "purchases"),
        (r"/sales/?", "sales"),
        (r"/sales/new/?", "sale_new"),
        (r"/sales/import/?", "import"),
        (r"/sales/[^/]+/edit/?", "sale_edit"),
        (r"/sales/[^/]+/delete/?", "sale_delete"),
        (r"/dashboard/?", "dashboard"),
        (r"/staff(/.*)?", "staff"),
        (r"/ops(/.*)?", "ops"),
    )
)
"""The pages a sign-in may lead to that are open to some roles only, by path."""


def allowed_next(current: Page, target: str) -> str:
    """`target` if the signed-in role may open it, else the role's start page: a link shared by
    somebody of another role leads somewhere useful rather than to a refusal."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    name = next((name for pattern, name in PAGE_PATHS if pattern.fullmatch(path)), None)
    if name is None or current.may(name):
        return target
    return HOME.get(current.role or "", "/")


def items(body: Any) -> list[Any]:
    """The rows of a list answer (a bare list, or a page with `items`)."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        return list(body.get("items") or [])
    return []


def date_range(values: Mapping[str, Any]) -> dict[str, Any]:
    """Dates picked in the UI (`YYYY-MM-DD`) as the RFC 3339 bounds the read API takes, whole days in UTC."""
    bounds = dict(values)
    for key, clock in (("date_from", "00:00:00.000"), ("date_to", "23:59:59.999")):
        value = bounds.get(key)
        if value and len(value) == 10:
            bounds[key] = f"{value}T{clock}Z"
    return bounds
