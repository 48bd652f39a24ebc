"""Security headers on every response, and limits on the headers of every request."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supply_common.problems import ProblemError
from supply_common.web import problem_response

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
)

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
_NAMES = frozenset(name for name, _ in SECURITY_HEADERS)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *[(k, v) for k, v in message.get("headers", []) if k.lower() not in _NAMES],
                    *SECURITY_HEADERS,
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeaderLimitsMiddleware:
    """Answers 431 to a request with more than `max_count` headers or more than `max_bytes` of them
    (names and values), before anything else reads them. The HTTP server has already parsed what
    came; this keeps such a request from going further (sessions, tokens, upstreams)."""

    def __init__(self, app: ASGIApp, *, max_count: int, max_bytes: int) -> None:
        self.app = app
        self.max_count = max_count
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            if len(headers) > self.max_count or sum(len(k) + len(v) for k, v in headers) > self.max_bytes:
                refusal = ProblemError(
                    431,
                    "Request header fields too large",
                    f"Send at most {self.max_count} headers and {self.max_bytes} bytes of them.",
                    headers={"Connection": "close"},
                )
                await SecurityHeadersMiddleware(problem_response(refusal, scope["path"]))(scope, receive, send)
                return
        await self.app(scope, receive, send)
