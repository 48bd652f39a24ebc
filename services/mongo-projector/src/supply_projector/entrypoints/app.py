"""The read API: sales, a customer's own sales, analytics and freshness, from the MongoDB copy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from aiokafka.errors import KafkaError
from fastapi import Depends, FastAPI, Path, Query, Request
from pydantic import AwareDatetime, Field, StringConstraints

from supply_common.contract import SALE_FILTERS, decimal_text, from_document, rfc3339, sale_total
from supply_common.contract import canonical as canonical_sale
from supply_common.email_address import normalise_email
from supply_common.identity import Identity, require_roles
from supply_common.problems import FieldError, ProblemError, field_error
from supply_common.web import ReadinessCheck, create_app
from supply_projector.adapters.kafka import KafkaOffsets
from supply_projector.adapters.reads import SalesReader
from supply_projector.bootstrap import Projection, bootstrap
from supply_projector.config import ProjectorSettings
from supply_projector.domain.queries import (
    MAX_PAGE,
    Cursor,
    DateRange,
    InvalidCursor,
    SalesFilter,
    SortOrder,
    customer_match,
    date_bound,
)
from supply_projector.service_layer import analytics

StoreName = Literal["Denver", "Seattle", "London", "Austin", "New York", "San Diego"]
Method = Literal["Online", "Phone", "In store"]
SaleId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$", description="The sale's 24-hex ObjectId.")]


PlainText = Annotated[str, StringConstraints(min_length=1, max_length=254)]
"""A filter value: only ever compared with a field as a string, never read as an operator, so any
text the writer accepts (an email starting with `$`, an item name with braces) can be searched for."""
Money = Annotated[Decimal, Field(ge=0, le=Decimal("999999999999.99"), decimal_places=2)]

STAFF = require_roles("technical_worker", "senior_management")
EVERYONE = require_roles("customer", "technical_worker", "senior_management")
CUSTOMER = require_roles("customer")
MANAGEMENT = require_roles("senior_management")

SALES_PARAMS = {*SALE_FILTERS, "limit", "cursor"}


def only_known_params(*allowed: str) -> Any:
    """Refuse query parameters the route does not know (`email[$ne]=` is a 422, not ignored)."""
    known = frozenset(allowed)

    def check(request: Request) -> None:
        unknown = sorted(set(request.query_params.keys()) - known)
        if unknown:
            raise ProblemError(
                422,
                "Invalid request",
                f"unknown query parameter(s): {', '.join(unknown)}",
                errors=[FieldError(field=f"query.{name}", reason="unknown parameter") for name in unknown],
            )
        for name in known:
            if len(request.query_params.getlist(name)) > 1:
                raise field_error(f"query.{name}", "give this parameter once")

    return Depends(check)


def projection_of(request: Request) -> Projection:
    projection: Projection = request.app.state.projection
    return projection


def sale_view(document: dict[str, Any]) -> dict[str, Any]:
    sale = from_document(document)
    return {
        "id": sale.id,
        "version": int(document.get("_supply", {}).get("version", 0)),
        "total": decimal_text(sale_total(list(sale.items))),
        "sale": canonical_sale(sale),
    }


def _cursor(text: str | None) -> Cursor | None:
    if text is None:
        return None
    try:
        return Cursor.decode(text)
    except InvalidCursor as exc:
        raise field_error("query.cursor", str(exc)) from exc


def _dates(date_from: datetime | None, date_to: datetime | None) -> DateRange:
    bounds = DateRange(_bound("date_from", date_from), _bound("date_to", date_to))
    if date_from is not None and date_to is not None and date_to <= date_from:
        raise field_error("query.date_to", "must be after date_from")
    return bounds


def _bound(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return date_bound(value)
    except OverflowError as exc:
        raise field_error(f"query.{name}", "must be between 0001-01-01 and 9999-12-31 in UTC") from exc


def build_app(settings: ProjectorSettings | None = None, projection: Projection | None = None) -> FastAPI:
    settings = settings or ProjectorSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        wired = projection or bootstrap(settings)
        app.state.projection = wired
        app.state.offsets = KafkaOffsets(settings, settings.consumer_group)
        try:
            yield
        finally:
            await app.state.offsets.close()
            if projection is None:
                wired.close()

    async def mongo_probe() -> None:
        await asyncio.to_thread(app.state.projection.reader.ping)

    app = create_app(
        service="mongo-projector",
        title="Supply Store mongo-projector",
        description="Reads and analytics from the MongoDB copy of the sales.",
        max_body_bytes=settings.max_body_bytes,
        checks=[ReadinessCheck("mongodb", mongo_probe)],
        lifespan=lifespan,
    )

    @app.get("/sales", dependencies=[only_known_params(*SALES_PARAMS)])
    def list_sales(
        request: Request,
        _: Annotated[Identity, Depends(STAFF)],
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
            store, method, coupon, email, item, tag, _dates(date_from, date_to), total_min, total_max
        ).filter()
        try:
            found, following = projection_of(request).reader.page(query, sort, _cursor(cursor), limit)
        except InvalidCursor as exc:
            raise field_error("query.cursor", str(exc)) from exc
        return {"items": [sale_view(d) for d in found], "next_cursor": following.encode() if following else None}

    @app.get("/sales/{sale_id}", dependencies=[only_known_params("min_version", "wait_ms")])
    async def get_sale(
        request: Request,
        sale_id: SaleId,
        identity: Annotated[Identity, Depends(EVERYONE)],
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
        reader = projection_of(request).reader
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

    @app.get("/me/sales", dependencies=[only_known_params("cursor", "limit")])
    def my_sales(
        request: Request,
        identity: Annotated[Identity, Depends(CUSTOMER)],
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> dict[str, Any]:
        """The caller's own purchases (matched by `customer.email`, whatever its case), newest first,
        with totals."""
        if not identity.email:
            return {"items": [], "next_cursor": None, "count": 0, "revenue": "0"}
        reader = projection_of(request).reader
        query = customer_match(identity.email)
        try:
            found, following = reader.page(query, "date_desc", _cursor(cursor), limit)
        except InvalidCursor as exc:
            raise field_error("query.cursor", str(exc)) from exc
        count = reader.count(query).get(None, 0)
        revenue = reader.total(query, "_supply.total_cents").get(None, 0)
        return {
            "items": [sale_view(d) for d in found],
            "next_cursor": following.encode() if following else None,
            "count": count,
            "revenue": decimal_text(Decimal(revenue) / 100),
        }

    range_params = only_known_params("date_from", "date_to")

    @app.get("/analytics/summary", dependencies=[range_params])
    def summary(
        request: Request,
        _: Annotated[Identity, Depends(MANAGEMENT)],
        date_from: AwareDatetime | None = None,
        date_to: AwareDatetime | None = None,
    ) -> dict[str, Any]:
        """Revenue, number of sales, items sold and mean basket; `date_from` inclusive, `date_to` exclusive."""
        return analytics.summary(projection_of(request).reader, _dates(date_from, date_to))

    def grouped_by(key: str, doc: str) -> Any:
        def grouped(
            request: Request,
            _: Annotated[Identity, Depends(MANAGEMENT)],
            date_from: AwareDatetime | None = None,
            date_to: AwareDatetime | None = None,
        ) -> list[dict[str, Any]]:
            return analytics.by_key(projection_of(request).reader, _dates(date_from, date_to), key)

        grouped.__doc__ = doc
        return grouped

    for path, key, doc in (
        ("/analytics/by-store", "storeLocation", "Revenue and sales per store."),
        ("/analytics/by-month", "_supply.month", "Revenue and sales per month (`YYYY-MM`, UTC)."),
        ("/analytics/by-method", "purchaseMethod", "Revenue and sales per purchase method."),
    ):
        app.add_api_route(
            path, grouped_by(key, doc), methods=["GET"], dependencies=[range_params], name=path.rsplit("/", 1)[-1]
        )

    @app.get("/analytics/top-items", dependencies=[only_known_params("by", "limit", "date_from", "date_to")])
    def top_items(
        request: Request,
        _: Annotated[Identity, Depends(MANAGEMENT)],
        by: Literal["revenue", "quantity"] = "revenue",
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        date_from: AwareDatetime | None = None,
        date_to: AwareDatetime | None = None,
    ) -> list[dict[str, Any]]:
        """Items ranked by revenue or by quantity sold."""
        return analytics.top_items(projection_of(request).reader, _dates(date_from, date_to), by, limit)

    @app.get("/analytics/satisfaction", dependencies=[range_params])
    def satisfaction(
        request: Request,
        _: Annotated[Identity, Depends(MANAGEMENT)],
        date_from: AwareDatetime | None = None,
        date_to: AwareDatetime | None = None,
    ) -> list[dict[str, Any]]:
        """Number of sales per customer satisfaction score (1 to 5)."""
        return analytics.satisfaction(projection_of(request).reader, _dates(date_from, date_to))

    @app.get("/analytics/coupons", dependencies=[range_params])
    def coupons(
        request: Request,
        _: Annotated[Identity, Depends(MANAGEMENT)],
        date_from: AwareDatetime | None = None,
        date_to: AwareDatetime | None = None,
    ) -> dict[str, Any]:
        """How many sales used a coupon, out of how many, and the rate."""
        return analytics.coupons(projection_of(request).reader, _dates(date_from, date_to))

    @app.get("/freshness", dependencies=[only_known_params()])
    async def freshness(request: Request, _: Annotated[Identity, Depends(STAFF)]) -> dict[str, Any]:
        """How far the copy is behind `sales.events`, per partition, plus DLQ and quarantine counts."""
        reader = projection_of(request).reader
        offsets: KafkaOffsets = request.app.state.offsets
        applied = await asyncio.to_thread(reader.freshness, settings.sales_topic)
        quarantined = await asyncio.to_thread(reader.quarantined)
        parked = await asyncio.to_thread(reader.parked)
        ends: dict[int, int] = {}
        committed: dict[int, int] = {}
        dlq: int | None = None
        kafka = "ok"
        try:
            ends = await asyncio.wait_for(offsets.end_offsets(settings.sales_topic), 5)
            committed = await asyncio.wait_for(offsets.committed(settings.sales_topic), 5)
            dlq = await asyncio.wait_for(offsets.record_count(settings.dlq_topic), 5)
        except (KafkaError, TimeoutError, OSError):
            kafka = "unreachable"
        partitions = []
        for partition in sorted(set(ends) | set(applied)):
            end = ends.get(partition)
            done = committed.get(partition)
            last = applied.get(partition, {}).get("last_occurred_at")
            partitions.append(
                {
                    "partition": partition,
                    "committed_offset": done,
                    "end_offset": end,
                    "lag": (end - (done or 0)) if end is not None else None,
                    "last_occurred_at": rfc3339(last) if last is not None else None,
                }
            )
        return {
            "partitions": partitions,
            "dlq_count": dlq,
            "quarantined": quarantined,
            "parked": parked,
            "kafka": kafka,
        }

    return app


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
