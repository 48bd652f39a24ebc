"""The public API: every route of the policy table, forwarded to its upstream.

The routes are rows of the policy table, not FastAPI routes: `api_app` serves them as a plain ASGI
app that `ApiDispatch` hands every API request to, ahead of FastAPI's middleware stack, router and
dependency solving. An API request passes only the layers it needs (security headers, CORS, problem
details, request id and metrics, body size limit).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from starlette.background import BackgroundTask
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supply_common.problems import PROBLEM_JSON, ProblemError
from supply_common.web import BodySizeLimitMiddleware, RequestContextMiddleware, error_response, problem_response
from supply_gateway.bootstrap import Container
from supply_gateway.config import GatewaySettings
from supply_gateway.domain.headers import client_response_headers
from supply_gateway.domain.policy import GATEWAY
from supply_gateway.entrypoints.security import SecurityHeadersMiddleware
from supply_gateway.entrypoints.session import apply_session, credentials
from supply_gateway.service_layer.gateway import Gateway

log = logging.getLogger(__name__)

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PREFIX = "/api/"
JWKS = "/.well-known/jwks.json"
LOGOUT = "/api/auth/logout"
ANY_API_ROUTE = SimpleNamespace(path="/api/{path:path}")


READ_BODY_BYTES = 1024 * 1024
"""Request bodies up to this size (by Content-Length) are read and sent whole; larger or chunked
ones are streamed through."""
READ_RESPONSE_BYTES = 256 * 1024
"""Upstream answers up to this size (by Content-Length) are read and sent whole; others stream."""


async def _body(request: Request) -> bytes | AsyncIterator[bytes] | None:
    if "transfer-encoding" in request.headers:
        return request.stream()
    length = request.headers.get("content-length")
    if length is None or length == "0":
        return None
    if length.isdigit() and int(length) <= READ_BODY_BYTES:
        return await request.body()
    return request.stream()


def serves(path: str) -> bool:
    return path.startswith(PREFIX) or path == JWKS


class UnexpectedErrors:
    """Answers an exception that nothing inside handled as every service's app does
    (`supply_common.web.error_response`: a 500 problem document, logged; a store outage a 503).
    Sits outside the body size limit, which handles its own overflow."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                log.exception("unhandled error after the answer began", extra={"path": scope["path"]})
            else:
                await error_response(exc, scope["path"])(scope, receive, send)


class ProxyApp:
    """Answers every API request: by the policy table, from its upstream, or with a problem document."""

    def __init__(self, container: Container) -> None:
        self.gateway: Gateway = container.gateway
        self.settings: GatewaySettings = container.settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = ANY_API_ROUTE
        request = Request(scope, receive)
        try:
            allowed = ("GET",) if scope["path"] == JWKS else METHODS
            if scope["method"] not in allowed:
                raise ProblemError(
                    405, "Method not allowed", "Method Not Allowed", headers={"Allow": ", ".join(allowed)}
                )
            response = await self.proxy(request)
        except ProblemError as exc:
            response = problem_response(exc, scope["path"])
        await response(scope, receive, send)

    async def proxy(self, request: Request) -> Response:
        """Admit the request by the policy table and pass it to its upstream and back."""
        gateway, settings = self.gateway, self.settings
        presented = credentials(request, settings)
        match, caller = await gateway.admit(request.method, request.scope["path"], presented)
        request.scope["route"] = SimpleNamespace(path=match.rule.path)
        request_id = request.state.request_id
        response: Response
        content: bytes | AsyncIterator[bytes] | None = None
        if match.rule.upstream == GATEWAY:
            response = JSONResponse(
                await gateway.replication(caller, request_id), headers={"cache-control": "no-store"}
            )
        else:
            content = await _body(request)
            upstream_response = await gateway.forward(
                match,
                caller,
                request_id=request_id,
                query=request.scope["query_string"].decode("latin-1"),
                client_headers=request.headers.items(),
                content=content,
                client_address=presented.client_address,
                read_up_to=READ_RESPONSE_BYTES,
            )
            headers = dict(client_response_headers(upstream_response.headers.items()))
            if not match.rule.cacheable:
                headers["cache-control"] = "no-store"
            self.public_locations(match.rule.upstream, headers)
            if upstream_response.is_read:
                body = upstream_response.content
                if headers.get("content-type", "").startswith(PROBLEM_JSON):
                    body = self.public_problem(match.rule.upstream, body, request.scope["path"])
                    headers.pop("content-length", None)
                response = Response(body, status_code=upstream_response.status_code, headers=headers)
            else:
                response = StreamingResponse(
                    upstream_response.aiter_bytes(),
                    status_code=upstream_response.status_code,
                    headers=headers,
                    background=BackgroundTask(upstream_response.aclose),
                )
        if match.rule.path == LOGOUT and 200 <= response.status_code < 300:
            refreshed = caller.new_tokens.refresh_token if caller.new_tokens else None
            gateway.end_session(presented.refresh_cookie, refreshed, _refresh_token_in(content))
            caller.new_tokens = None
        apply_session(response, request, settings, caller)
        return response

    def public_url(self, upstream: str, value: str) -> str | None:
        """An upstream's URL (absolute or a path) as the public URL of the same thing, or None."""
        parts = urlsplit(value)
        path = parts.path
        if parts.scheme or parts.netloc:
            base = urlsplit(self.gateway.upstreams[upstream].base_url)
            if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or not path.startswith(base.path):
                return None
            path = path[len(base.path) :] or "/"
        public = self.gateway.policy.public_path(upstream, path)
        if public is None:
            return None
        return public + (f"?{parts.query}" if parts.query else "")

    def public_locations(self, upstream: str, headers: dict[str, str]) -> None:
        """Location headers name the public URL; one with no public route is left out."""
        for name in ("location", "content-location"):
            if name in headers:
                public = self.public_url(upstream, headers[name])
                if public is None:
                    del headers[name]
                else:
                    headers[name] = public

    def public_problem(self, upstream: str, body: bytes, requested: str) -> bytes:
        """A problem document with `instance` naming the public URL (the requested one when the
        upstream's has none)."""
        try:
            problem = json.loads(body)
        except ValueError:
            return body
        if not isinstance(problem, dict) or "instance" not in problem:
            return body
        instance = problem["instance"]
        public = self.public_url(upstream, instance) if isinstance(instance, str) else None
        problem["instance"] = public or requested
        return json.dumps(problem, ensure_ascii=False, separators=(",", ":")).encode()


def _refresh_token_in(body: object) -> str | None:
    """The refresh token a logout sent, when its body was read whole (a small JSON document)."""
    if not isinstance(body, bytes) or len(body) > 16 * 1024:
        return None
    try:
        token = json.loads(body).get("refresh_token")
    except (ValueError, AttributeError):
        return None
    return token if isinstance(token, str) else None


def api_app(container: Container, *, body_limits: dict[str, int], cors: dict[str, Any] | None) -> ASGIApp:
    """The API's own stack: security headers, CORS (when configured), unexpected errors as problems,
    request id and metrics, the body size limit, then `ProxyApp`."""
    app: ASGIApp = BodySizeLimitMiddleware(
        ProxyApp(container), limit=container.settings.max_body_bytes, overrides=body_limits
    )
    app = UnexpectedErrors(RequestContextMiddleware(app, service="gateway"))
    if cors:
        app = CORSMiddleware(app, **cors)
    return SecurityHeadersMiddleware(app)


class ApiDispatch:
    """Hands API requests (`/api/*` and the key set) to the API's own stack and everything else (pages,
    health, metrics, static files, the lifespan) to the app behind."""

    def __init__(self, app: ASGIApp, api: ASGIApp) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and serves(scope["path"]):
            await self.api(scope, receive, send)
        else:
            await self.app(scope, receive, send)
