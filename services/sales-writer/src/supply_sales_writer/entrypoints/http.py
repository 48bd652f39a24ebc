"""What the routes share: path and header parameters, the sale response, the problems the use
cases' errors become, and the route class that reads JSON bodies exactly and within the depth bound."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Coroutine, Iterator
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import Header, Path, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from supply_common.contract import Actor
from supply_common.identity import Identity
from supply_common.problems import FieldError, ProblemError
from supply_sales_writer.domain.model import (
    IdempotencyKeyReused,
    MalformedPrecondition,
    PreconditionRequired,
    SaleNotFound,
    VersionMismatch,
    etag,
)
from supply_sales_writer.domain.nesting import MAX_DEPTH, line_and_column, too_deep_at

SaleIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$", description="The sale's ObjectId, 24 hex digits.")]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description=(
            'The version the change is based on: `"3"`. Required. Compared strongly: a weak `W/"3"` never matches.'
        ),
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description=(
            "Repeat a create safely: the same key and body from the same user return the first result for"
            " 24 h. Keys are per user: another user's equal key is another key."
        ),
    ),
]


def actor(identity: Identity) -> Actor:
    return Actor(user_id=identity.user_id, role=identity.role)


def sale_response(view: dict[str, Any], status: int = 200, location: bool = False) -> Response:
    headers = {"ETag": etag(view["version"])}
    if location:
        headers["Location"] = f"/sales/{view['id']}"
    return Response(orjson.dumps(view), status_code=status, headers=headers, media_type="application/json")


def header_problem(status: int, title: str, detail: str, *, header: str, reason: str) -> ProblemError:
    """A problem with one request header, which `errors` names as `header.<name>`."""
    return ProblemError(status, title, detail, errors=[FieldError(field=f"header.{header}", reason=reason)])


@contextlib.contextmanager
def as_problems() -> Iterator[None]:
    try:
        yield
    except SaleNotFound as exc:
        raise ProblemError(404, "Not found", f"There is no sale {exc.sale_id}.") from None
    except PreconditionRequired:
        raise header_problem(
            428,
            "Precondition required",
            'Send If-Match: "<version>" with the version you read (the ETag of GET /sales/{id}).',
            header="If-Match",
            reason="required",
        ) from None
    except MalformedPrecondition as exc:
        raise header_problem(400, "Bad precondition", str(exc), header="If-Match", reason=str(exc)) from None
    except VersionMismatch as exc:
        raise ProblemError(
            412,
            "Version mismatch",
            f"The sale is at version {exc.current}; read it again and retry.",
            headers={"ETag": etag(exc.current)},
            extra={"current_version": exc.current},
        ) from None
    except IdempotencyKeyReused:
        raise header_problem(
            422,
            "Idempotency-Key reused",
            "This Idempotency-Key was used with a different request.",
            header="Idempotency-Key",
            reason="already used with a different request",
        ) from None


def too_deep(line: int, column: int | None = None, extra: dict[str, Any] | None = None) -> ProblemError:
    """The 422 of input nested deeper than any sale, naming where."""
    where = f"line {line}" if column is None else f"line {line}, column {column}"
    reason = f"nested more than {MAX_DEPTH} levels deep; a sale has fewer"
    return ProblemError(
        422,
        "Nested too deep",
        f"The input at {where} is {reason}. Nothing after it was read.",
        errors=[FieldError(field="body", reason=f"{where}: {reason}")],
        extra={"line": line, **(extra or {})},
    )


class _ExactNumbersRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), parse_float=Decimal)
        return self._json


class ExactNumbersRoute(APIRoute):
    """A route whose JSON body keeps its numbers exact: `2.50` is read as the decimal it is written as,
    not as the nearest binary float (where `1.0000000000000000001` would become a valid price of 1).
    A body nested deeper than any sale is refused (422) before it is parsed; a route that streams
    its body (no body parameter) reads it itself."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        parses_body = self.body_field is not None

        async def exact(request: Request) -> Response:
            exact_request = _ExactNumbersRequest(request.scope, request.receive)
            if parses_body:
                body = await exact_request.body()
                deep = too_deep_at(body)
                if deep is not None:
                    raise too_deep(*line_and_column(body, deep))
            return await handle(exact_request)

        return exact
