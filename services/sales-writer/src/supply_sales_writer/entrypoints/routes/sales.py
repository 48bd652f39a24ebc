"""Sales: create, read, replace, delete and import (technical workers; senior managers read)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from supply_common.contract import Actor, SaleBody, canonical
from supply_sales_writer.bootstrap import Container
from supply_sales_writer.domain.importing import BrokenInput, RecordReader, Rejected, TooDeep
from supply_sales_writer.domain.model import OnExisting, parse_if_match
from supply_sales_writer.entrypoints.deps import ContainerDep, Reader, Sales, Writer
from supply_sales_writer.entrypoints.http import (
    ExactNumbersRoute,
    IdempotencyKey,
    IfMatch,
    SaleIdPath,
    actor,
    as_problems,
    sale_response,
    too_deep,
)
from supply_sales_writer.entrypoints.schemas import ImportCounts, SaleView

router = APIRouter(route_class=ExactNumbersRoute, tags=["sales"])


async def create_unkeyed(container: Container, body: SaleBody, creator: Actor) -> Response:
    """A create without an Idempotency-Key: through the group commit (see `CreateLane`, which answers
    most of them with this before the router)."""
    with as_problems():
        created = await container.creates.submit((body, creator))
    return sale_response(created.view, 201, location=True)


@router.post(
    "/sales",
    status_code=201,
    response_model=SaleView,
    responses={422: {"description": "Invalid sale, or Idempotency-Key reused with another body."}},
)
async def create_sale(
    body: SaleBody, identity: Writer, container: ContainerDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Create a sale (technical workers). Its version is 1 and its id a new ObjectId."""
    sales = container.service
    if idempotency_key is None:
        return await create_unkeyed(container, body, actor(identity))
    with as_problems():
        created = await run_in_threadpool(sales.create, body, actor(identity), idempotency_key)
    return sale_response(created.view, 201, location=True)


@router.get("/sales/{sale_id}", response_model=SaleView, responses={404: {"description": "No such sale."}})
def get_sale(sale_id: SaleIdPath, identity: Reader, sales: Sales) -> Response:
    """The sale as MySQL holds it now, with its version as the ETag."""
    with as_problems():
        found = sales.get(sale_id)
    return sale_response({"id": found.sale.id, "version": found.version, "sale": canonical(found.sale)})


@router.put(
    "/sales/{sale_id}",
    response_model=SaleView,
    responses={412: {"description": "Stale If-Match."}, 428: {"description": "No If-Match."}},
)
def replace_sale(
    sale_id: SaleIdPath,
    body: SaleBody,
    identity: Writer,
    sales: Sales,
    if_match: IfMatch = None,
) -> Response:
    """Replace a sale's content. `If-Match: "<version>"` is required; the version rises by one."""
    with as_problems():
        view = sales.update(sale_id, body, parse_if_match(if_match), actor(identity))
    return sale_response(view)


@router.delete(
    "/sales/{sale_id}",
    status_code=204,
    responses={412: {"description": "Stale If-Match."}, 428: {"description": "No If-Match."}},
)
def delete_sale(sale_id: SaleIdPath, identity: Writer, sales: Sales, if_match: IfMatch = None) -> Response:
    """Delete a sale. `If-Match` is required; the id's versions keep rising if it is created again."""
    with as_problems():
        sales.delete(sale_id, parse_if_match(if_match), actor(identity))
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
    identity: Writer,
    container: ContainerDep,
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
    importer = container.service.importer(actor(identity), container.settings.import_batch_size, on_existing)
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
