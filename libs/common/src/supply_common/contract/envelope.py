"""The event envelope on `sales.events` (see docs/contract/): one change of one sale."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from supply_common.contract.codec import canonical, rfc3339
from supply_common.contract.sale import EventSale, ObjectIdStr, Sale, millisecond_utc

SCHEMA_VERSION: Final = 1
EventType = Literal["sale.created", "sale.updated", "sale.deleted"]


class Actor(BaseModel):
    """Who caused the change; both null for system actions such as imports by a script."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    user_id: str | None = None
    role: str | None = None


NOBODY: Final = Actor()


class SaleEvent(BaseModel):
    """Key: the sale id. Value: this envelope as UTF-8 JSON.

    `version` rises by one on every change of a sale and never goes back, across delete and
    re-create. `data` is the whole sale in dataset shape (decimals as strings, dates RFC 3339), or
    null for a delete. `repair` marks a re-emission of the current state (drift repair), which a
    consumer may apply over an equal version.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: uuid.UUID
    event_type: EventType
    schema_version: int = Field(SCHEMA_VERSION, ge=1)
    sale_id: ObjectIdStr
    version: int = Field(ge=1)
    occurred_at: Annotated[AwareDatetime, AfterValidator(millisecond_utc)] = Field(
        description="Commit time of the change, RFC 3339 UTC with milliseconds."
    )
    actor: Actor = Field(default_factory=Actor)
    data: EventSale | None
    repair: bool = False

    @model_validator(mode="after")
    def _data_matches_type(self) -> SaleEvent:
        if self.event_type == "sale.deleted":
            if self.data is not None:
                raise ValueError("a sale.deleted event carries data: null")
        elif self.data is None:
            raise ValueError(f"a {self.event_type} event carries the sale in data")
        elif self.data.id != self.sale_id:
            raise ValueError("data._id differs from sale_id")
        return self

    @property
    def key(self) -> bytes:
        return self.sale_id.encode()

    def to_json(self) -> dict[str, Any]:
        return envelope(
            event_id=self.event_id,
            event_type=self.event_type,
            sale_id=self.sale_id,
            version=self.version,
            occurred_at=self.occurred_at,
            actor=self.actor,
            data=canonical(self.data) if self.data is not None else None,
            repair=self.repair,
            schema_version=self.schema_version,
        )

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_json())

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> SaleEvent:
        """Decode and validate; raises ValueError (incl. pydantic's ValidationError) when it cannot."""
        if raw is None:
            raise ValueError("empty record value")
        return cls.model_validate_json(raw)

    @classmethod
    def for_change(
        cls,
        *,
        event_type: EventType,
        sale_id: str,
        version: int,
        occurred_at: datetime,
        sale: Sale | None,
        actor: Actor | None = None,
        repair: bool = False,
        event_id: uuid.UUID | None = None,
    ) -> SaleEvent:
        data = EventSale.of(sale) if sale is not None else None
        return cls(
            event_id=event_id or uuid.uuid4(),
            event_type=event_type,
            sale_id=sale_id,
            version=version,
            occurred_at=occurred_at,
            actor=actor or Actor(),
            data=data,
            repair=repair,
        )


def envelope(
    *,
    event_id: uuid.UUID,
    event_type: EventType,
    sale_id: str,
    version: int,
    occurred_at: datetime,
    actor: Actor,
    data: dict[str, Any] | None,
    repair: bool = False,
    schema_version: int = SCHEMA_VERSION,
) -> dict[str, Any]:
    """The envelope as JSON-ready data, fields in contract order; `data` is the canonical sale."""
    return {
        "event_id": str(event_id),
        "event_type": event_type,
        "schema_version": schema_version,
        "sale_id": sale_id,
        "version": version,
        "occurred_at": rfc3339(occurred_at),
        "actor": {"user_id": actor.user_id, "role": actor.role},
        "data": data,
        "repair": repair,
    }


def encode_change(
    event_type: EventType,
    sale_id: str,
    version: int,
    occurred_at: datetime,
    data: dict[str, Any] | None,
    actor: Actor | None = None,
    *,
    repair: bool = False,
) -> bytes:
    """A new event's record value, byte for byte what `SaleEvent.for_change(...).to_bytes()` gives,
    from the canonical sale (`None` for a delete) without building and validating the model: the
    producer's side of the contract, for a writer whose data passed validation already."""
    return orjson.dumps(
        envelope(
            event_id=uuid.uuid4(),
            event_type=event_type,
            sale_id=sale_id,
            version=version,
            occurred_at=occurred_at,
            actor=actor or NOBODY,
            data=data,
            repair=repair,
        )
    )
