"""What the routes are handed: the container `create_app` keeps, its parts, the caller, and the query
parameters every area shares."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Request
from pydantic import Field, StringConstraints

from supply_common.callers import require_roles
from supply_common.identity import Identity
from supply_common.problems import FieldError, ProblemError, field_error
from supply_projector.adapters.kafka import KafkaOffsets
from supply_projector.adapters.reads import SalesReader
from supply_projector.adapters.rollup_reader import RollupReader
from supply_projector.bootstrap import Container
from supply_projector.config import ProjectorSettings
from supply_projector.domain.queries import Cursor, DateRange, InvalidCursor, date_bound
from supply_projector.service_layer.vocabulary import Vocabulary


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def get_settings(request: Request) -> ProjectorSettings:
    return get_container(request).settings


def get_reader(request: Request) -> SalesReader:
    return get_container(request).reader


def get_rollups(request: Request) -> RollupReader:
    return get_container(request).rollups


def get_vocabulary(request: Request) -> Vocabulary:
    return get_container(request).vocabulary


def get_offsets(request: Request) -> KafkaOffsets:
    offsets: KafkaOffsets = request.app.state.offsets
    return offsets


Settings = Annotated[ProjectorSettings, Depends(get_settings)]
Reader = Annotated[SalesReader, Depends(get_reader)]
Rollups = Annotated[RollupReader, Depends(get_rollups)]
Words = Annotated[Vocabulary, Depends(get_vocabulary)]
Offsets = Annotated[KafkaOffsets, Depends(get_offsets)]

Staff = Annotated[Identity, Depends(require_roles("technical_worker", "senior_management"))]
Anyone = Annotated[Identity, Depends(require_roles("customer", "technical_worker", "senior_management"))]
Customer = Annotated[Identity, Depends(require_roles("customer"))]
Manager = Annotated[Identity, Depends(require_roles("senior_management"))]

StoreName = Literal["Denver", "Seattle", "London", "Austin", "New York", "San Diego"]
Method = Literal["Online", "Phone", "In store"]
SaleId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$", description="The sale's 24-hex ObjectId.")]
PlainText = Annotated[str, StringConstraints(min_length=1, max_length=254)]
"""A filter value: only ever compared with a field as a string, never read as an operator, so any
text the writer accepts (an email starting with `$`, an item name with braces) can be searched for."""
Money = Annotated[Decimal, Field(ge=0, le=Decimal("999999999999.99"), decimal_places=2)]


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


def cursor_of(text: str | None) -> Cursor | None:
    if text is None:
        return None
    try:
        return Cursor.decode(text)
    except InvalidCursor as exc:
        raise field_error("query.cursor", str(exc)) from exc


def dates_of(date_from: datetime | None, date_to: datetime | None) -> DateRange:
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
