"""Signing in and out, registering, and confirming an email: the pages anybody may open."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from supply_common.problems import ProblemError
from supply_gateway.entrypoints.session import REFRESH_COOKIE, clear_tokens, set_tokens
from supply_gateway.entrypoints.web.form_errors import FIX_FIELDS, field_errors, too_many
from supply_gateway.entrypoints.web.page import HOME, Page, allowed_next, page, safe_next
from supply_gateway.entrypoints.web.sale import restore_sale_form
from supply_gateway.service_layer.callers import Credentials, token_pair

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

UNCONFIRMED = (
    "Confirm your email first: open the link we mailed you. "
    "No mail? Register again with the same email to get a new link."
)


LOGIN_NOTICES = {
    "ended": "Your session ended — sign in again.",
    "unsaved": "Your session ended, so your changes were not saved — sign in again and make them once more.",
}


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
            message = too_many("sign-in attempts", exc.headers.get("Retry-After"))
        elif status in (400, 401):
            message = "That email and password do not match an account."
        elif status == 403:
            message = UNCONFIRMED
        elif status == 422:
            message = FIX_FIELDS
        elif status >= 500:
            message = "Signing in is not possible right now. Please try again shortly."
        else:
            message = exc.problem.detail or exc.problem.title
        return current.render(
            "login.html",
            status,
            values=values,
            errors=field_errors(exc),
            error=message,
            next=next_page,
            stash=form.get("stash"),
        )
    pair = token_pair(body)
    current.caller = await current.gateway.identify(Credentials(bearer=pair.access_token))
    current.caller.via_cookie = True
    target = allowed_next(current, safe_next(next_page))
    restored = await restore_sale_form(current, target, form["stash"], pair) if form.get("stash") else None
    response = restored or RedirectResponse(target, status_code=303)
    current.cookies.append(lambda r: set_tokens(r, request, current.settings, pair))
    return response


def _refusal_page(current: Page, template: str, values: dict[str, str], exc: ProblemError) -> Response:
    """A sign-up form again, saying why auth refused it."""
    if exc.problem.status == 429:
        message = too_many("attempts", exc.headers.get("Retry-After"))
    elif exc.problem.status == 422:
        message = FIX_FIELDS
    else:
        message = exc.problem.detail or exc.problem.title
    return current.render(template, exc.problem.status, values=values, errors=field_errors(exc), error=message)


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
        return _refusal_page(current, "register.html", values, exc)
    return current.render("register_sent.html", 202, email=values["email"].strip())


@router.get("/resend-confirmation")
@page(signed_in=False)
async def resend_form(request: Request, current: Page) -> Response:
    return current.render("resend.html", values={"email": request.query_params.get("email", "")[:320]}, errors={})


@router.post("/resend-confirmation")
@page(signed_in=False)
async def resend(request: Request, current: Page) -> Response:
    """A new link to choose the password, for a registration whose mail was lost or whose link
    expired. The answer is the same whatever the address holds (auth decides whether to mail)."""
    form = await current.check_form()
    values = {"email": form.get("email", "")}
    try:
        await current.api_ok("POST", "/api/auth/resend-confirmation", json_body=values)
    except ProblemError as exc:
        return _refusal_page(current, "resend.html", values, exc)
    return current.render("register_sent.html", 202, email=values["email"].strip(), resent=True)


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
        errors = field_errors(reply.problem())
        return current.render("verify_email.html", 422, token=token, errors=errors, error=FIX_FIELDS)
    if reply.status == 429:
        message = too_many("attempts", reply.headers.get("retry-after"))
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
