"""Error pages for browsers: an address with no page, and a failure on our side, answered as a page
to whoever asks for HTML and as a problem document to everybody else (the API's clients, probes)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from supply_common.web import error_response
from supply_gateway.entrypoints.web.rendering import TITLES, templates

MESSAGES = {
    404: "There is no page at this address. Check the address, or go to your start page.",
    405: "There is no page at this address. Check the address, or go to your start page.",
    500: "Something went wrong on our side, and nothing was changed. Try again in a moment.",
}


def wants_html(request: Request) -> bool:
    """A browser's page load asks for HTML first; API clients and probes ask for JSON or anything."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept and not request.url.path.startswith("/api/")


def error_page(request: Request, status: int, message: str | None = None, title: str | None = None) -> Response:
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "identity": None,
            "csrf": "",
            "status_code": status,
            "title": title or TITLES.get(status, "The request failed"),
            "message": message or MESSAGES.get(status, "The request could not be completed."),
            "reference": getattr(request.state, "request_id", None),
        },
        status_code=status,
        headers={"cache-control": "no-store"},
    )


def install_error_pages(app: FastAPI) -> None:
    async def not_routed(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StarletteHTTPException) and exc.status_code in MESSAGES and wants_html(request):
            return error_page(request, exc.status_code)
        return error_response(exc, request.url.path)

    async def failed(request: Request, exc: Exception) -> Response:
        response = error_response(exc, request.url.path)
        if wants_html(request):
            return error_page(request, response.status_code)
        return response

    app.add_exception_handler(StarletteHTTPException, not_routed)
    app.add_exception_handler(Exception, failed)
