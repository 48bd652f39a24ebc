"""`POST /sales`: a lane in front of the router for the request it almost always is.

A create is the one route under sustained load. Below the shared middleware, FastAPI's general
request handling (exception middleware, routing through every route, the request/response wrapper,
dependency solving, parsing the body to Python objects and validating them again) costs more CPU
than writing the sale to MySQL (docs/performance.md). The route keeps its FastAPI declaration,
documentation and handler; `CreateLane` sits inside the shared middleware (request ids, metrics,
body limits) and answers a create from an allowed role, without an `Idempotency-Key`, whose JSON
body is a valid sale, directly: the body is validated by pydantic in one pass from its bytes
(`validate_json`), the sale goes to the group commit, and the view is returned as the route would.

Everything else goes on to the router and the route's own handler: a missing or refused identity
(401/403), a keyed create, another content type, and any body the fast validation refuses (the body
read here is handed on unchanged), so that every refusal is the one the route has always given. A
price written as a JSON number is one of those: read from bytes it is a binary float, which the
contract refuses there, and the route reads the body's numbers as the decimals they are written as.
An error while creating is answered by `supply_common.web.error_response`, as the app's exception
handlers answer it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace

from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supply_common.contract import Actor, SaleBody
from supply_common.identity import RoleCheck, identity_from
from supply_common.problems import ProblemError
from supply_common.web import error_response

SALE_BODY: TypeAdapter[SaleBody] = TypeAdapter(SaleBody)
PATH = "/sales"
ROUTE = SimpleNamespace(path=PATH)
"""What the router would put in the scope: the request metrics are labelled with its path."""

Create = Callable[[SaleBody, Actor], Awaitable[Response]]


class CreateLane:
    """ASGI middleware: answers the common `POST /sales` with `create`, passes everything else on."""

    def __init__(self, app: ASGIApp, *, policy: RoleCheck, create: Create) -> None:
        self.app = app
        self.policy = policy
        self.create = create

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        actor = self._actor(Headers(scope=scope))
        if actor is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        try:
            sale = SALE_BODY.validate_json(body)
        except ValidationError:
            await self.app(scope, _replay(body, receive), send)
            return
        scope["route"] = ROUTE
        try:
            response = await self.create(sale, actor)
        except Exception as exc:  # noqa: BLE001 - answered as the app's exception handlers answer it
            response = error_response(exc, PATH)
        await response(scope, receive, send)

    def _actor(self, headers: Headers) -> Actor | None:
        """The caller if this request is the lane's to answer, else None."""
        if "idempotency-key" in headers or not _is_json(headers.get("content-type")):
            return None
        try:
            identity = identity_from(headers)
        except ProblemError:
            return None
        if not self.policy.allows(identity):
            return None
        return Actor(user_id=identity.user_id, role=identity.role)


def _is_json(content_type: str | None) -> bool:
    return content_type is not None and content_type.split(";", 1)[0].strip().lower() == "application/json"


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body (its size is bounded by the body limit outside), or None on a disconnect."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body already read, then whatever the client sends next."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
