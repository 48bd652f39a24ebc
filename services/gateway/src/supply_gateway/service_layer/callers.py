"""Who calls and what they bring: credentials, the caller they prove, tokens, an upstream's reply."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from supply_common.identity import Identity
from supply_common.problems import FieldError, ProblemError
from supply_gateway.adapters.upstream_transport import UpstreamResponse


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class Credentials:
    """What a request brings to prove who it is."""

    client_address: str = "unknown"
    user_agent: str = ""
    bearer: str | None = None
    access_cookie: str | None = None
    refresh_cookie: str | None = None
    csrf_cookie: str | None = None
    csrf_submitted: str | None = None

    @property
    def client(self) -> str:
        """Which client the request comes from, as far as the gateway can tell: its address and user
        agent, hashed. A browser session's parallel requests share it; a copied cookie sent from
        elsewhere does not."""
        return hashlib.sha256(f"{self.client_address}\n{self.user_agent}".encode()).hexdigest()


@dataclass
class Caller:
    identity: Identity | None = None
    token: str | None = None
    via_cookie: bool = False
    new_tokens: TokenPair | None = None
    """Set when a browser session was refreshed on the way: the response must carry the new cookies."""
    session_ended: bool = False
    """Set when a browser session could not be refreshed: the response should clear the cookies."""

    @property
    def role(self) -> str | None:
        return self.identity.role if self.identity else None


@dataclass(frozen=True)
class Reply:
    """A whole (non-streamed) upstream answer."""

    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def problem(self) -> ProblemError:
        """The answer as a problem to raise, with its `Retry-After` (a page says how long to wait, an
        API answer passes it on)."""
        body = self.body if isinstance(self.body, dict) else {}
        retry_after = self.headers.get("retry-after") or self.headers.get("Retry-After")
        errors = [
            FieldError(field=str(entry["field"]), reason=str(entry.get("reason", "")))
            for entry in body.get("errors") or []
            if isinstance(entry, dict) and "field" in entry
        ]
        return ProblemError(
            self.status,
            str(body.get("title") or "Request failed"),
            body.get("detail"),
            errors=errors,
            headers={"Retry-After": str(retry_after)} if retry_after else None,
            extra={
                k: v for k, v in body.items() if k not in {"type", "title", "status", "detail", "instance", "errors"}
            },
        )


def token_pair(body: Mapping[str, Any]) -> TokenPair:
    return TokenPair(
        access_token=str(body["access_token"]),
        refresh_token=str(body["refresh_token"]),
        expires_in=int(body.get("expires_in") or 300),
    )


def check_csrf(credentials: Credentials) -> None:
    cookie, submitted = credentials.csrf_cookie, credentials.csrf_submitted
    if not cookie or not submitted or not hmac.compare_digest(cookie.encode(), submitted.encode()):
        raise ProblemError(403, "CSRF check failed", "Reload the page and try again.")


def json_or_none(response: UpstreamResponse) -> Any:
    """An upstream answer's JSON body; None when it has no body or the body is not JSON."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
