"""A customer's own purchases."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query

from supply_common.contract import METADATA_FIELD, decimal_text
from supply_common.problems import field_error
from supply_projector.domain.queries import MAX_PAGE, InvalidCursor, customer_match
from supply_projector.entrypoints.deps import Customer, Reader, cursor_of, only_known_params
from supply_projector.entrypoints.routes.sales import sale_view

router = APIRouter(tags=["me"])


@router.get("/me/sales", dependencies=[only_known_params("cursor", "limit")])
def my_sales(
    reader: Reader,
    identity: Customer,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> dict[str, Any]:
    """The caller's own purchases (matched by `customer.email`, whatever its case), newest first,
    with their count and revenue (from the first page itself when it holds them all)."""
    if not identity.email:
        return {"items": [], "next_cursor": None, "count": 0, "revenue": "0"}
    query = customer_match(identity.email)
    try:
        found, following = reader.page(query, "date_desc", cursor_of(cursor), limit)
    except InvalidCursor as exc:
        raise field_error("query.cursor", str(exc)) from exc
    if cursor is None and following is None:  # the page holds every purchase: nothing more to read
        count, revenue = len(found), sum(int(d[METADATA_FIELD]["total_cents"]) for d in found)
    else:
        count = reader.count(query).get(None, 0)
        revenue = reader.total(query, f"{METADATA_FIELD}.total_cents").get(None, 0)
    return {
        "items": [sale_view(d) for d in found],
        "next_cursor": following.encode() if following else None,
        "count": count,
        "revenue": decimal_text(Decimal(revenue) / 100),
    }
