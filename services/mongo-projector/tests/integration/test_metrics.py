"""What the consumer exports for Prometheus's alert rules (deploy/prometheus/rules.yml)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from supply_projector.bootstrap import Container
from supply_projector.entrypoints import consumer

from .conftest import consuming, produce, wait_for
from .events import SAMPLES, changed, sale_event

pytestmark = pytest.mark.integration


def quarantined_sales() -> float | None:
    return REGISTRY.get_sample_value("projector_quarantined_sales")


async def test_the_quarantine_gauge_counts_a_poisoned_sale_until_its_repair(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer, "QUARANTINE_COUNT_EVERY_S", 0.1)
    settings = container.settings
    poisoned = SAMPLES[0]
    await produce(
        settings,
        [
            sale_event(poisoned, 1, "create"),
            (poisoned.id.encode(), b'{"event_type": "sale.updated", "version": "two"}'),
        ],
    )
    async with consuming(container):
        await wait_for(lambda: quarantined_sales() == 1, what="the gauge counting the quarantined sale")
        await produce(settings, [sale_event(changed(poisoned, 4), 4, repair=True)])
        await wait_for(lambda: quarantined_sales() == 0, what="the gauge after the repair")
