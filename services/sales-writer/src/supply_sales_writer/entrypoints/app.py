"""The sales-writer HTTP app."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware

from supply_common.contract import Actor, SaleBody, canonical, rfc3339
from supply_common.contract.sale import ObjectIdStr
from supply_common.db import ping
from supply_common.identity import Identity, require_roles
from supply_common.problems import FieldError, ProblemError
from supply_common.web import ReadinessCheck, create_app
from supply_sales_writer.adapters import outbox
from supply_sales_writer.bootstrap import System, bootstrap
from supply_sales_writer.config import SalesWriterSettings
from supply_sales_writer.domain.importing import BrokenInput, RecordReader, Rejected, TooDeep
from supply_sales_writer.domain.model import (
    IdempotencyKeyReused,
    MalformedPrecondition,
    OnExisting,
    PreconditionRequired,
    SaleNotFound,
    VersionMismatch,
    etag,
    parse_if_match,
)
from supply_sales_writer.domain.nesting import MAX_DEPTH, line_and_column, too_deep_at
from supply_sales_writer.entrypoints.create_lane import Create, CreateLane

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
writer = require_roles("technical_worker")
reader = require_roles("technical_worker", "senior_management")

SALE_EXAMPLE: dict[str, Any] = {
    "id": "5bd761dcae323e45a93ccfe8",
    "version": 3,
    "sale": {
        "_id": "5bd761dcae323e45a93ccfe8",
        "saleDate": "2015-03-23T21:06:49.506Z",
        "items": [{"name": "pens", "tags": ["office"], "price": "56.12", "quantity": 5}],
        "storeLocation": "Denver",
        "customer": {"gender": "M", "age": 42, "email": "cauho@witwuta.sv", "satisfaction": 4},
        "couponUsed": True,
        "purchaseMethod": "Online",
    },
}


class SaleView(BaseModel):
    """A sale as MySQL holds it now: `sale` is the canonical dataset document."""

    model_config = ConfigDict(json_schema_extra={"examples": [SALE_EXAMPLE]})
    id: str
    version: int
    sale: dict[str, Any]


class ImportCounts(BaseModel):
    created: int
    updated: int
    unchanged: int
    skipped: int = Field(description="Records whose sale exists with other content, left as it is (`skip`).")
    rejected: int
    errors: list[dict[str, Any]] = Field(description="`{line, reason}` per rejected record (at most 1000).")
    existing: list[dict[str, Any]] = Field(
        description=(
            "`{line, id, version, outcome}` per record whose sale exists with other content (at most 1000):"
            " `overwritten` (version: the new one), `skipped` or `refused` (version: the sale's, unchanged)."
        )
    )


class DigestEntry(BaseModel):
    id: str
    version: int
    hash: str = Field(description="`supply_common.contract.sale_hash` of the canonical sale.")


class RepublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[ObjectIdStr] | None = Field(None, max_length=100_000)
    all: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> RepublishRequest:
        if (self.ids is None) == (not self.all):
            raise ValueError("send either ids or all: true")
        return self


class RepublishResult(BaseModel):
    republished: int
    unknown: list[str] = Field(default_factory=list, description="Ids MySQL has never held.")


class OutboxStatsView(BaseModel):
    backlog: int
    oldest_unpublished_age_s: float | None
    relay: str
    last_published_at: str | None


def _actor(identity: Identity) -> Actor:
    return Actor(user_id=identity.user_id, role=identity.role)


def _sale_response(view: dict[str, Any], status: int = 200, location: bool = False) -> Response:
    headers = {"ETag": etag(view["version"])}
    if location:
        headers["Location"] = f"/sales/{view['id']}"
    return Response(orjson.dumps(view), status_code=status, headers=headers, media_type="application/json")


@contextlib.contextmanager
def _as_problems() -> Iterator[None]:
    try:
        yield
    except SaleNotFound as exc:
        raise ProblemError(404, "Not found", f"There is no sale {exc.sale_id}.") from None
    except PreconditionRequired:
        raise ProblemError(
            428,
            "Precondition required",
            'Send If-Match: "<version>" with the version you read (the ETag of GET /sales/{id}).',
            errors=[FieldError(field="header.If-Match", reason="required")],
        ) from None
    except MalformedPrecondition as exc:
        raise ProblemError(
            400, "Bad precondition", str(exc), errors=[FieldError(field="header.If-Match", reason=str(exc))]
        ) from None
    except VersionMismatch as exc:
        raise ProblemError(
            412,
            "Version mismatch",
            f"The sale is at version {exc.current}; read it again and retry.",
            headers={"ETag": etag(exc.current)},
            extra={"current_version": exc.current},
        ) from None
    except IdempotencyKeyReused:
        raise ProblemError(
            422,
            "Idempotency-Key reused",
            "This Idempotency-Key was used with a different request.",
            errors=[FieldError(field="header.Idempotency-Key", reason="already used with a different request")],
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


def create_unkeyed(system: System) -> Create:
    """A create without an Idempotency-Key: through the group commit (see `CreateLane`)."""

    async def create(body: SaleBody, actor: Actor) -> Response:
        with _as_problems():
            created = await system.creates.submit((body, actor))
        return _sale_response(created.view, 201, location=True)

    return create


def sales_routes(system: System, create_in_group: Create) -> APIRouter:
    router = APIRouter(route_class=ExactNumbersRoute)
    service = system.service

    async def create_sale(
        body: SaleBody, identity: Annotated[Identity, Depends(writer)], idempotency_key: IdempotencyKey = None
    ) -> Response:
        """Create a sale (technical workers). Its version is 1 and its id a new ObjectId."""
        if idempotency_key is None:
            return await create_in_group(body, _actor(identity))
        with _as_problems():
            created = await run_in_threadpool(service.create, body, _actor(identity), idempotency_key)
        return _sale_response(created.view, 201, location=True)

    router.add_api_route(
        "/sales",
        create_sale,
        methods=["POST"],
        status_code=201,
        response_model=SaleView,
        responses={422: {"description": "Invalid sale, or Idempotency-Key reused with another body."}},
    )

    @router.get("/sales/{sale_id}", response_model=SaleView, responses={404: {"description": "No such sale."}})
    def get_sale(sale_id: SaleIdPath, identity: Annotated[Identity, Depends(reader)]) -> Response:
        """The sale as MySQL holds it now, with its version as the ETag."""
        with _as_problems():
            found = service.get(sale_id)
        return _sale_response({"id": found.sale.id, "version": found.version, "sale": canonical(found.sale)})

    @router.put(
        "/sales/{sale_id}",
        response_model=SaleView,
        responses={412: {"description": "Stale If-Match."}, 428: {"description": "No If-Match."}},
    )
    def replace_sale(
        sale_id: SaleIdPath,
        body: SaleBody,
        identity: Annotated[Identity, Depends(writer)],
        if_match: IfMatch = None,
    ) -> Response:
        """Replace a sale's content. `If-Match: "<version>"` is required; the version rises by one."""
        with _as_problems():
            view = service.update(sale_id, body, parse_if_match(if_match), _actor(identity))
        return _sale_response(view)

    @router.delete(
        "/sales/{sale_id}",
        status_code=204,
        responses={412: {"description": "Stale If-Match."}, 428: {"description": "No If-Match."}},
    )
    def delete_sale(
        sale_id: SaleIdPath, identity: Annotated[Identity, Depends(writer)], if_match: IfMatch = None
    ) -> Response:
        """Delete a sale. `If-Match` is required; the id's versions keep rising if it is created again."""
        with _as_problems():
            service.delete(sale_id, parse_if_match(if_match), _actor(identity))
        return Response(status_code=204)

    @router.post(
        "/sales/import",
        response_model=ImportCounts,
        responses={
            422: {"description": "A record nested deeper than any sale: the import ends there (`line`, `imported`)."}
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "`mongoexport` output: a JSON array or JSON lines, canonical or relaxed Extended JSON.",
                "content": {
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                },
            }
        },
    )
    async def import_sales(
        request: Request,
        identity: Annotated[Identity, Depends(writer)],
        on_existing: Annotated[
            OnExisting,
            Query(
                description=(
                    "A record whose `_id` names a sale that holds other content: `fail` rejects the record,"
                    " `skip` leaves the sale as it is, `overwrite` makes the record its next version. Each such"
                    " record is listed by line in `existing`. A sale with the same content is unchanged, and"
                    " an unknown or deleted id is created, in every mode."
                )
            ),
        ] = "fail",
    ) -> ImportCounts:
        """Import sales keeping their `_id`: same content is unchanged, an existing sale with other
        content is kept unless `on_existing=overwrite`.

        The body is read as it streams in; a bad record is reported by line (its position in a
        JSON array) and the others go on. A record nested deeper than any sale ends the import at
        once: 422 naming its line, with what was imported before it under `imported`.
        """
        importer = service.importer(_actor(identity), system.settings.import_batch_size, on_existing)
        parser = RecordReader()

        def take(chunk: bytes | None) -> None:
            try:
                importer.feed(parser.feed(chunk) if chunk is not None else parser.close())
            except TooDeep as exc:
                importer.feed(exc.records)
                raise
            except BrokenInput as exc:
                importer.feed([*exc.records, Rejected(exc.line, exc.reason)])
                raise

        try:
            async for chunk in request.stream():
                if chunk:
                    await run_in_threadpool(take, chunk)
            await run_in_threadpool(take, None)
        except TooDeep as exc:
            result = await run_in_threadpool(importer.finish)
            raise too_deep(exc.line, extra={"imported": result.as_dict()}) from None
        except BrokenInput:
            pass
        result = await run_in_threadpool(importer.finish)
        return ImportCounts(**result.as_dict())

    return router


def internal_routes(system: System) -> APIRouter:
    router = APIRouter(prefix="/internal", tags=["internal"], route_class=ExactNumbersRoute)
    service = system.service

    @router.get("/sales/digest", response_model=list[DigestEntry])
    def digest(
        after: Annotated[str | None, Query(pattern=r"^[0-9a-f]{24}$")] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    ) -> list[dict[str, Any]]:
        """`[{id, version, hash}]` in id order after `after`, for drift control."""
        return service.digest(after, limit)

    @router.post("/sales/republish", response_model=RepublishResult)
    def republish(body: RepublishRequest) -> RepublishResult:
        """Re-emit the current state of sales through the outbox as repair events (versions unchanged)."""
        count, unknown = service.republish(None if body.all else body.ids)
        return RepublishResult(republished=count, unknown=unknown)

    @router.get("/outbox/stats", response_model=OutboxStatsView)
    def outbox_stats() -> OutboxStatsView:
        """Unpublished backlog, the age of its oldest row, the relay's state and the last publish."""
        with system.engine.connect() as connection:
            current = outbox.stats(connection)
        now = datetime.now(UTC)
        oldest = current.oldest_unpublished_at
        age = round((now - oldest).total_seconds(), 3) if oldest else None
        if system.settings.relay_enabled and (system.relay.publishing or system.relay.status() == "degraded"):
            relay = system.relay.status()
        else:
            # The relay is elsewhere: another process, or (this one on standby) another worker. The
            # backlog tells whether that one keeps up.
            relay = "degraded" if age is not None and age > 30 else "ok"
        last = current.last_published_at
        return OutboxStatsView(
            backlog=current.backlog,
            oldest_unpublished_age_s=age,
            relay=relay,
            last_published_at=rfc3339(last) if last else None,
        )

    return router


def build_app(settings: SalesWriterSettings | None = None, *, system: System | None = None) -> FastAPI:
    system = system or bootstrap(settings)
    settings = system.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(system.relay.run(), name="outbox-relay") if settings.relay_enabled else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            system.engine.dispose()

    async def database() -> None:
        await asyncio.to_thread(ping, system.engine)

    async def relay() -> str:
        return system.relay.status() if settings.relay_enabled else "ok"

    create_in_group = create_unkeyed(system)
    app = create_app(
        service="sales-writer",
        title="Supply Store sales-writer",
        description="Sales in MySQL (the source of truth), changes published to Kafka through an outbox.",
        max_body_bytes=settings.max_body_bytes,
        body_limit_overrides={"/sales/import": settings.import_max_body_bytes},
        checks=[ReadinessCheck("database", database), ReadinessCheck("relay", relay, critical=False)],
        lifespan=lifespan,
        request_threads=settings.request_threads,
        inner_middleware=[Middleware(CreateLane, policy=writer, create=create_in_group)],
    )
    app.state.system = system
    app.include_router(sales_routes(system, create_in_group), tags=["sales"])
    app.include_router(internal_routes(system))
    return app
