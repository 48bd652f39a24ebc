"""Events for tests, made through the contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from supply_common.contract import Sale, SaleEvent, from_extended_json
from supply_common.testing import SAMPLE_DATASET
from supply_projector.service_layer.ports import Record

SAMPLES = [from_extended_json(line) for line in SAMPLE_DATASET.read_text().splitlines() if line.strip()]
BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)


def variant(sale: Sale, version: int) -> Sale:
    """The sale with content that differs per version (the customer's age)."""
    customer = sale.customer.model_copy(update={"age": 20 + version})
    return sale.model_copy(update={"customer": customer})


def event(sale: Sale, version: int, kind: str = "update", repair: bool = False) -> SaleEvent:
    event_type = {"create": "sale.created", "update": "sale.updated", "delete": "sale.deleted"}[kind]
    return SaleEvent.for_change(
        event_type=event_type,  # type: ignore[arg-type]
        sale_id=sale.id,
        version=version,
        occurred_at=BASE_TIME + timedelta(seconds=version),
        sale=None if kind == "delete" else variant(sale, version),
        repair=repair,
    )


def record(value: bytes | None, key: bytes | None, offset: int, partition: int = 0, topic: str = "t") -> Record:
    return Record(topic=topic, partition=partition, offset=offset, key=key, value=value)


def records_of(events: list[SaleEvent]) -> list[Record]:
    return [record(e.to_bytes(), e.key, i) for i, e in enumerate(events)]
