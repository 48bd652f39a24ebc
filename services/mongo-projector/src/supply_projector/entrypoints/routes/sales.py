"""Staff's search of the sales, and one sale by id (read-your-writes with `min_version`)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from supply_common.contract import SALE_FILTERS, decimal_text, from_document, rfc3339, sale_total
from supply_common.contract import canonical as canonical_sale
from supply_common.email_address import normalise_email
from supply_common.identity import Identity
from supply_common.problems import ProblemError, field_error
from supply_projector.adapters.reads import SalesReader
from supply_projector.domain.export import csv_lines
from supply_projector.domain.queries import MAX_PAGE, InvalidCursor, SalesFilter, SortOrder
from supply_projector.entrypoints.deps import (
    Anyone,
    Method,
    Money,
    PlainText,
    Reader,
    Rollups,
    SaleId,
    Settings,
    Staff,
    StoreName,
    Words,
    cursor_of,
    dates_of,
    only_known_params,
)
from supply_projector.service_layer import match_summary

router = APIRouter(tags=["sales"])
SALES_PARAMS = {*SALE_FILTERS, "limit", "cursor"}


def sale_view(document: dict[str, Any]) -> dict[str, Any]:
    sale = from_document(document)
    return {
        "id": sale.id,
        "version": int(document.get("_supply", {}).get("version", 0)),
        "total": decimal_text(sale_total(list(sale.items))),
        "sale": canonical_sale(sale),
    }


def sales_search(
    store: StoreName | None = None,
    method: Method | None = None,
    coupon: bool | None = None,
    email: Annotated[PlainText | None, Query(description="The start of the customer's email, any case.")] = None,
    item: Annotated[PlainText | None, Query(description="A word start of an item's name, any case.")] = None,
    tag: Annotated[PlainText | None, Query(description="A word start of an item's tag, any case.")] = None,
    date_from: AwareDatetime | None = None,
    date_to: AwareDatetime | None = None,
    total_min: Money | None = None,
    total_max: Money | None = None,
) -> SalesFilter:
    """The search, from the query parameters every sales search takes."""
    if total_min is not None and total_max is not None and total_max < total_min:
        raise field_error("query.total_max", "must not be below total_min")
    return SalesFilter(store, method, coupon, email, item, tag, dates_of(date_from, date_to), total_min, total_max)


Search = Annotated[SalesFilter, Depends(sales_search)]


@router.get("/sales", dependencies=[only_known_params(*SALES_PARAMS)])
def list_sales(
    reader: Reader,
    vocabulary: Words,
    _: Staff,
    search: Search,
    sort: SortOrder = "date_desc",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> dict[str, Any]:
    """Search the sales, newest first by default (or by `total` or `store`, each `_asc` or
    `_desc`); follow `next_cursor` for the next page and `prev_cursor` for the one before."""
    try:
        position = cursor_of(cursor)
        resolved = vocabulary.resolve(search)
        found, following, preceding = (
            ([], None, None)  # a word no sale holds: nothing to read
            if resolved is None
            else reader.page_both_ways(resolved.filter(), sort, position, limit)
        )
    except InvalidCursor as exc:
        raise field_error("query.cursor", str(exc)) from exc
    return {
        "items": [sale_view(d) for d in found],
        "next_cursor": following.encode() if following else None,
        "prev_cursor": preceding.encode() if preceding else None,
    }


@router.get("/sales/summary", dependencies=[only_known_params(*SALE_FILTERS)])
def sales_summary(
    reader: Reader, rollups: Rollups, vocabulary: Words, settings: Settings, _: Staff, search: Search
) -> dict[str, Any]:
    """How many sales the search matches over the whole match (not one page), and their total, at a
    cost that never grows with the match: `{count, total, kind, more}`.

    - `kind` `exact_from_rollups`: no filter, or one of `store`, `method`, `coupon` alone, each with or
      without a date range: exact, from the analytics rollups (while they are being built, such a
      search is counted like any other).
    - `kind` `exact_by_reading`: any other search matching at most the cap (a setting,
      `SUMMARY_COUNT_CAP`): exact, from the matching sales.
    - `kind` `lower_bound`, `more` true: any other search matching more than the cap: the match
      has more than `count` sales (`count` is the cap) and `total` is null. The CSV export
      (`/sales/export`, same filters) gives every sale of the match.

    `more` is false whenever `count` and `total` are exact."""
    resolved = vocabulary.resolve(search)
    if resolved is None:  # a word no sale holds: nothing to read
        found = match_summary.MatchSummary(0, 0, "exact_by_reading")
    else:
        found = match_summary.summarise(resolved, rollups, reader, settings.summary_count_cap)
    return {
        "count": found.count,
        "total": None if found.cents is None else decimal_text(Decimal(found.cents) / 100),
        "kind": found.kind,
        "more": found.more,
    }


@router.get(
    "/sales/export",
    dependencies=[only_known_params(*SALE_FILTERS)],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "One line per sale, with a header."}},
)
def export_sales(
    reader: Reader, vocabulary: Words, _: Staff, search: Search, sort: SortOrder = "date_desc"
) -> StreamingResponse:
    """Every sale the search matches as CSV, in the search's order, streamed as it is read."""
    resolved = vocabulary.resolve(search)
    sales = iter(()) if resolved is None else reader.each(resolved.filter(), sort)
    return StreamingResponse(
        csv_lines(sales),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="sales.csv"'},
    )


@router.get("/sales/{sale_id}", dependencies=[only_known_params("min_version", "wait_ms")])
async def get_sale(
    reader: Reader,
    settings: Settings,
    sale_id: SaleId,
    identity: Anyone,
    min_version: Annotated[int | None, Query(ge=1)] = None,
    wait_ms: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """One sale from the copy. With `min_version`, wait (up to `wait_ms`, default 2000) until the
    copy has reached that version; 409 with the copy's `version` if it does not in time. A sale
    the copy knows was deleted at `min_version` or later is a 404 at once (with its
    `deleted_version`); an older delete is waited out, since the sale may be created again.
    Customers see only their own sales: for a customer, a sale that is someone else's, absent or
    deleted is the same 404, given when the wait is over (sooner would tell that the id exists
    or how far its versions go)."""
    if wait_ms is not None and wait_ms > settings.wait_max_ms:
        raise field_error("query.wait_ms", f"must be at most {settings.wait_max_ms}")
    if min_version is not None:
        budget = (settings.wait_default_ms if wait_ms is None else wait_ms) / 1000
        deadline = time.monotonic() + budget
        if identity.role == "customer":
            await _wait_for_own_sale(reader, identity, sale_id, min_version, deadline)
        else:
            await _wait_for_version(reader, sale_id, min_version, deadline)
    document = await asyncio.to_thread(reader.document, sale_id)
    if document is None or not _visible(identity, document):
        raise _no_such_sale()
    return sale_view(document)


@router.get("/sales/{sale_id}/applied", dependencies=[only_known_params()])
def applied(reader: Reader, sale_id: SaleId, _: Staff) -> dict[str, Any]:
    """How far the copy has come with a sale (staff): the version it holds, when that change was made
    (`occurred_at`) and applied (`applied_at`); for a deleted sale, the delete's version and when the
    copy applied it. Fields are null where the copy holds nothing of the sale."""
    held = reader.applied(sale_id)
    for name in ("applied_at", "occurred_at", "deleted_applied_at"):
        if held[name] is not None:
            held[name] = rfc3339(held[name])
    return {"sale_id": sale_id, **held}


def _no_such_sale() -> ProblemError:
    return ProblemError(404, "Not found", "No such sale.")


async def _wait_for_version(reader: SalesReader, sale_id: str, min_version: int, deadline: float) -> None:
    """Staff: return once the copy holds `min_version`; a delete at that version or later is a 404
    at once (with `deleted_version`), an older one is waited out (the sale may be created again)."""
    while True:
        current = await asyncio.to_thread(reader.version, sale_id)
        if current is not None and current >= min_version:
            return
        deleted = await asyncio.to_thread(reader.deleted_version, sale_id)
        if deleted is not None and deleted >= min_version:
            raise ProblemError(
                404, "Not found", f"The sale was deleted at version {deleted}.", extra={"deleted_version": deleted}
            )
        if time.monotonic() >= deadline:
            raise _version_not_reached(current, min_version)
        await asyncio.sleep(0.05)


async def _wait_for_own_sale(
    reader: SalesReader, identity: Identity, sale_id: str, min_version: int, deadline: float
) -> None:
    """Return once the customer's own sale holds `min_version`. Anything else (someone else's sale,
    none, a delete: a tombstone names no customer) waits to the deadline like an absent sale and is
    the same 404, so neither the answer nor its time tells whether the id exists or its version."""
    while True:
        held = await asyncio.to_thread(reader.owner_and_version, sale_id)
        version = held[1] if held is not None and _owns(identity, held[0]) else None
        if version is not None and version >= min_version:
            return
        if time.monotonic() >= deadline:
            if version is None:
                raise _no_such_sale()
            raise _version_not_reached(version, min_version)
        await asyncio.sleep(0.05)


def _version_not_reached(held: int | None, min_version: int) -> ProblemError:
    return ProblemError(
        409,
        "Version not reached",
        f"The copy holds version {held}; {min_version} did not arrive in time.",
        extra={"version": held},
    )


def _owns(identity: Identity, email: object) -> bool:
    return bool(identity.email) and isinstance(email, str) and normalise_email(email) == normalise_email(identity.email)


def _visible(identity: Identity, document: dict[str, Any]) -> bool:
    if identity.role != "customer":
        return True
    return _owns(identity, document.get("customer", {}).get("email"))
