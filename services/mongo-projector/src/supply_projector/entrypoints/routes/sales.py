"""Staff's search of the sales, and one sale by id (read-your-writes with `min_version`)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from supply_common.contract import SALE_FILTERS, decimal_text, from_document, sale_total
from supply_common.contract import canonical as canonical_sale
from supply_common.email_address import normalise_email
from supply_common.identity import Identity
from supply_common.problems import ProblemError, field_error
from supply_projector.adapters.reads import SalesReader
from supply_projector.domain.queries import MAX_PAGE, InvalidCursor, SalesFilter, SortOrder
from supply_projector.entrypoints.deps import (
    Anyone,
    Method,
    Money,
    PlainText,
    Reader,
    SaleId,
    Settings,
    Staff,
    StoreName,
    cursor_of,
    dates_of,
    only_known_params,
)

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


@router.get("/sales", dependencies=[only_known_params(*SALES_PARAMS)])
def list_sales(
    reader: Reader,
    _: Staff,
    store: StoreName | None = None,
    method: Method | None = None,
    coupon: bool | None = None,
    email: PlainText | None = None,
    item: PlainText | None = None,
    tag: PlainText | None = None,
    date_from: AwareDatetime | None = None,
    date_to: AwareDatetime | None = None,
    total_min: Money | None = None,
    total_max: Money | None = None,
    sort: SortOrder = "date_desc",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> dict[str, Any]:
    """Search the sales, newest first by default; follow `next_cursor` for the next page."""
    if total_min is not None and total_max is not None and total_max < total_min:
        raise field_error("query.total_max", "must not be below total_min")
    query = SalesFilter(
        store, method, coupon, email, item, tag, dates_of(date_from, date_to), total_min, total_max
    ).filter()
    try:
        found, following = reader.page(query, sort, cursor_of(cursor), limit)
    except InvalidCursor as exc:
        raise field_error("query.cursor", str(exc)) from exc
    return {"items": [sale_view(d) for d in found], "next_cursor": following.encode() if following else None}


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
