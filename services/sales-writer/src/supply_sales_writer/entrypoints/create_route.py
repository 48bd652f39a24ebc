"""`POST /sales` with a fast lane for the request it almost always is.

A create is the one route under sustained load, and FastAPI's general request handling (solving the
dependency graph, parsing the body to Python objects and validating them again, serialising the
response model) cost as much CPU as writing the sale to MySQL (measured with py-spy in
`make bench`, row 2). The route keeps its FastAPI declaration, documentation and handler; in front of
the handler, a create from an allowed role without an `Idempotency-Key` and with a JSON body that is
a valid sale is answered directly: the raw body is validated by pydantic in one pass
(`validate_json`), the sale goes to the group commit, and the view is returned as the route would.

Everything else goes to the route's own handler: a missing or refused identity (401/403), a keyed
create, another content type, and any body the fast validation refuses, so that every error is the
one the route has always given (the body read here is cached on the request and read again there).
Both lanes run inside the same middleware (request ids, metrics, body limits) and exception handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

from supply_common.contract import Actor, SaleBody
from supply_common.identity import RoleCheck, current_identity
from supply_common.problems import ProblemError

SALE_BODY: TypeAdapter[SaleBody] = TypeAdapter(SaleBody)

Create = Callable[[SaleBody, Actor], Awaitable[Response]]


def _is_json(content_type: str | None) -> bool:
    return content_type is not None and content_type.split(";", 1)[0].strip().lower() == "application/json"


def create_route_class(policy: RoleCheck, create: Create) -> type[APIRoute]:
    """An `APIRoute` class for `POST /sales` whose handler answers the common case with `create`."""

    class CreateRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            standard = super().get_route_handler()

            async def handler(request: Request) -> Response:
                headers = request.headers
                if "idempotency-key" in headers or not _is_json(headers.get("content-type")):
                    return await standard(request)
                try:
                    identity = await current_identity(request)
                except ProblemError:
                    return await standard(request)
                if not policy.allows(identity):
                    return await standard(request)
                try:
                    body = SALE_BODY.validate_json(await request.body())
                except ValidationError:
                    return await standard(request)
                return await create(body, Actor(user_id=identity.user_id, role=identity.role))

            return handler

    return CreateRoute
