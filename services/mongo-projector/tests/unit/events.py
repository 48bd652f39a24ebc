"""Events for tests, made through the contract."""

from __future__ import annotations

from supply_common.contract import Sale, SaleEvent
from supply_projector.service_layer.ports import Record

from ..events import BASE as BASE_TIME
from ..events import SAMPLES, sale_event

__all__ = ["BASE_TIME", "SAMPLES", "event", "record", "variant"]


def variant(sale: Sale, version: int) -> Sale:
    """The sale with content that differs per version (the customer's age)."""
    customer = sale.customer.model_copy(update={"age": 20 + version})
    return sale.model_copy(update={"customer": customer})


def event(sale: Sale, version: int, kind: str = "update", repair: bool = False) -> SaleEvent:
    """The event of version `version` of the sale, its content that version's `variant`."""
    return sale_event(variant(sale, version), version, kind, repair)


def record(value: bytes | None, key: bytes | None, offset: int, partition: int = 0, topic: str = "t") -> Record:
    return Record(topic=topic, partition=partition, offset=offset, key=key, value=value)


def records_of(events: list[SaleEvent]) -> list[Record]:
    return [record(e.to_bytes(), e.key, i) for i, e in enumerate(events)]
