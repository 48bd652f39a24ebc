"""The bodies the sales-writer's routes answer with, as the OpenAPI document shows them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from supply_common.contract.sale import ObjectIdStr

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
