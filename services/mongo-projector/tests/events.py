"""The dataset's sample sales and their events, made through the contract, for the unit and the
integration tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from supply_common.contract import Sale, SaleEvent, from_extended_json
from supply_common.testing import SAMPLE_DATASET

LINES = [line for line in SAMPLE_DATASET.read_text().splitlines() if line.strip()]
SAMPLES = [from_extended_json(line) for line in LINES]
BASE = datetime(2024, 1, 1, tzinfo=UTC)
"""Version v of a sale occurs at `BASE` plus v seconds."""


def sale_event(sale: Sale, version: int, kind: str = "update", repair: bool = False) -> SaleEvent:
    event_type = {"create": "sale.created", "update": "sale.updated", "delete": "sale.deleted"}[kind]
    return SaleEvent.for_change(
        event_type=event_type,  # type: ignore[arg-type]
        sale_id=sale.id,
        version=version,
        occurred_at=BASE + timedelta(seconds=version),
        sale=None if kind == "delete" else sale,
        repair=repair,
    )
