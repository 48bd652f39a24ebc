"""`GET /sales/{id}/applied`: the version the copy holds of a sale and when it was applied, for a
sale's journey; a delete is told by its tombstone; customers may not ask."""

from __future__ import annotations

from datetime import datetime

import pytest

from supply_common.testing.tokens import ISSUER_FOR_TESTS as ISSUER
from supply_projector.bootstrap import Container

from .conftest import consuming, produce, wait_for
from .events import SAMPLES, changed, sale_event

pytestmark = pytest.mark.integration
STAFF = ISSUER.bearer("technical_worker", sub="t", email="t@example.com")
CUSTOMER = ISSUER.bearer("customer", sub="c", email="c@example.com")


async def test_the_copy_tells_which_version_it_applied_and_when(container: Container, client) -> None:
    kept, gone = SAMPLES[0], SAMPLES[1]
    events = [
        sale_event(kept, 1, "create"),
        sale_event(changed(kept, 2), 2),
        sale_event(gone, 1, "create"),
        sale_event(gone, 2, "delete"),
    ]
    await produce(container.settings, events)
    async with consuming(container):
        await wait_for(
            lambda: container.reader.version(kept.id) == 2 and container.reader.deleted_version(gone.id) == 2,
            what="both sales",
        )

    held = (await client.get(f"/sales/{kept.id}/applied", headers=STAFF)).json()
    assert held["sale_id"] == kept.id
    assert held["version"] == 2
    assert held["event_id"] == str(events[1].event_id)
    assert datetime.fromisoformat(held["occurred_at"]) == events[1].occurred_at
    assert datetime.fromisoformat(held["applied_at"]) >= datetime.fromisoformat(held["occurred_at"])
    assert held["deleted_version"] is None

    deleted = (await client.get(f"/sales/{gone.id}/applied", headers=STAFF)).json()
    assert (deleted["version"], deleted["deleted_version"]) == (None, 2)
    assert deleted["deleted_applied_at"].endswith("Z")

    unknown = (await client.get(f"/sales/{'a' * 24}/applied", headers=STAFF)).json()
    assert {k: v for k, v in unknown.items() if k != "sale_id"} == dict.fromkeys(
        ("version", "applied_at", "occurred_at", "event_id", "deleted_version", "deleted_applied_at")
    )
    assert (await client.get(f"/sales/{kept.id}/applied", headers=CUSTOMER)).status_code == 403
