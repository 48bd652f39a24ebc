"""Every error a service's app meets answered as a problem document (RFC 9457): the service's own
problems, validation errors, HTTP errors, an unavailable dependency as 503, anything else as 500
(logged)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from supply_common.problems import PROBLEM_JSON, FieldError, ProblemError

log = logging.getLogger(__name__)


def problem_response(error: ProblemError, instance: str | None = None) -> JSONResponse:
    return JSONResponse(
        error.body(instance),
        status_code=error.problem.status,
        headers=error.headers,
        media_type=PROBLEM_JSON,
    )


def _location(loc: Sequence[int | str]) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        kind, rest = parts[0], parts[1:]
        if kind != "body" and rest:
            return f"{kind}.{'.'.join(rest)}"
        parts = rest
    return ".".join(parts) or "body"


def validation_problem(errors: Sequence[Mapping[str, Any]]) -> ProblemError:
    field_errors = [FieldError(field=_location(error.get("loc", ())), reason=str(error.get("msg"))) for error in errors]
    detail = "; ".join(f"{e.field}: {e.reason}" for e in field_errors[:5])
    return ProblemError(422, "Invalid request", detail, errors=field_errors)


def _is_unavailable(exc: Exception) -> str | None:
    """Name the dependency when an exception means a store cannot be reached right now."""
    if isinstance(exc, _database_errors()) and _is_database_connection_error(exc):
        return "database"
    if isinstance(exc, _document_store_errors()):
        return "document store"
    return None


def _database_errors() -> tuple[type[Exception], ...]:
    """SQLAlchemy's pool timeout and driver errors, once a service has loaded SQLAlchemy (those with a
    MySQL database do): an exception of a module never imported cannot occur, and a service without a
    database needs neither SQLAlchemy nor PyMySQL installed."""
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is None:
        return ()
    return (errors.DBAPIError, errors.TimeoutError)


def _document_store_errors() -> tuple[type[Exception], ...]:
    """pymongo's connection errors, once a service has loaded pymongo (only the projector does), for
    the same reason as the database's."""
    errors = sys.modules.get("pymongo.errors")
    if errors is None:
        return ()
    return (errors.ConnectionFailure, errors.AutoReconnect, errors.NetworkTimeout)


def _is_database_connection_error(exc: Exception) -> bool:
    """A pool timeout, an invalidated connection, or a MySQL error that says the server is gone."""
    errors = sys.modules["sqlalchemy.exc"]
    if isinstance(exc, errors.TimeoutError):
        return True
    if not isinstance(exc, errors.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    driver = sys.modules.get("pymysql.err")
    orig = exc.orig
    if driver is None or orig is None:
        return False
    if isinstance(orig, driver.InterfaceError):
        return True
    if isinstance(orig, driver.OperationalError) and orig.args:
        return orig.args[0] in (2003, 2006, 2013, 2055, 1927, 1053)
    return False


def error_response(exc: Exception, instance: str) -> Response:
    """The problem document an exception is answered with, wherever it is caught: the app's
    exception handlers and an ASGI lane in front of the router (see the sales-writer's create)."""
    if isinstance(exc, ProblemError):
        return problem_response(exc, instance)
    if isinstance(exc, RequestValidationError):
        return problem_response(validation_problem(exc.errors()), instance)
    if isinstance(exc, StarletteHTTPException):
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Request refused")
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(ProblemError(exc.status_code, title, detail, headers=dict(exc.headers or {})), instance)
    dependency = _is_unavailable(exc)
    if dependency is not None:
        log.warning("dependency unavailable", extra={"dependency": dependency, "error": repr(exc)[:300]})
        error = ProblemError(
            503,
            "Service unavailable",
            f"The {dependency} cannot be reached; try again shortly.",
            headers={"Retry-After": "2"},
        )
        return problem_response(error, instance)
    log.error("unhandled error", extra={"path": instance}, exc_info=exc)
    return problem_response(ProblemError(500, "Internal error", "Something went wrong on our side."), instance)


def install_problem_handlers(app: FastAPI) -> None:
    """Every error as a problem document. Store errors are answered inside the app by their own
    handlers: a handler for `Exception` runs in Starlette's outermost middleware, which re-raises after
    answering, and the server then drops the keep-alive connection under the caller's feet. The
    database's and the document store's errors are among them when SQLAlchemy or pymongo is loaded
    by then (a service's adapters import them before its app is built)."""

    async def on_error(request: Request, exc: Exception) -> Response:
        return error_response(exc, request.url.path)

    handled = (
        ProblemError,
        StarletteHTTPException,
        RequestValidationError,
        *_database_errors(),
        *_document_store_errors(),
    )
    for kind in (*handled, Exception):
        app.add_exception_handler(kind, on_error)
