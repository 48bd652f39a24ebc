"""The event envelope on `sales.events` (see docs/contract/): one change of one sale."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Final, Literal

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
        return {
            "event_id": str(self.event_id),
            "event_type": self.event_type,
            "schema_version": self.schema_version,
            "sale_id": self.sale_id,
            "version": self.version,
            "occurred_at": rfc3339(self.occurred_at),
            "actor": {"user_id": self.actor.user_id, "role": self.actor.role},
            "data": canonical(self.data) if self.data is not None else None,
            "repair": self.repair,
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")).encode()

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
