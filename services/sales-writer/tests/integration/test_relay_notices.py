"""A relay in its own process is woken by the commit notices of the processes that write: an event
goes out at once rather than at the relay's next poll."""

from __future__ import annotations

import asyncio
import time

import pytest
from bson import ObjectId

from supply_common.contract import Actor, SaleBody
from supply_common.testing.deployment import free_port
from supply_sales_writer.adapters.wakeup import listen
from supply_sales_writer.bootstrap import bootstrap

pytestmark = pytest.mark.integration

WORKER = Actor(user_id="worker-1", role="technical_worker")
SLOW_POLL_S = 60.0


async def _seconds_until_published(kit, writer, address: str, wait_s: float) -> float | None:
    """Run a relay that polls only every minute and listens on `address`; commit two sales through
    `writer` once the relay is idle; how long until the outbox is empty (None: not within `wait_s`)."""
    relay = kit.system.new_relay(poll_interval_s=SLOW_POLL_S)
    task = asyncio.create_task(relay.run())
    notices = await listen(address, relay.wake)
    try:
        await asyncio.sleep(0.5)  # the relay found nothing and waits
        assert relay.healthy
        body = SaleBody.model_validate(kit.body())
        await asyncio.to_thread(writer.service.create_many, [(body, WORKER), (body, WORKER)])
        committed = time.monotonic()
        while time.monotonic() - committed < wait_s:
            if await asyncio.to_thread(kit.unpublished) == 0:
                return time.monotonic() - committed
            await asyncio.sleep(0.02)
        return None
    finally:
        notices.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_a_commit_notice_wakes_a_relay_in_another_process_at_once(kit) -> None:
    address = f"127.0.0.1:{free_port()}"
    writer = bootstrap(kit.settings.model_copy(update={"relay_enabled": False, "relay_wake_address": address}))
    try:
        took = asyncio.run(_seconds_until_published(kit, writer, address, wait_s=10))
    finally:
        writer.engine.dispose()
    assert took is not None
    assert took < 5, took
    assert kit.count() == 2
    assert {e["event_type"] for e in kit.envelopes(kit.consume(2))} == {"sale.created"}


def test_without_notices_the_relay_waits_for_its_poll(kit) -> None:
    # The control for the test above: the same writer sending no notices leaves the events waiting.
    address = f"127.0.0.1:{free_port()}"
    writer = bootstrap(kit.settings.model_copy(update={"relay_enabled": False}))
    try:
        took = asyncio.run(_seconds_until_published(kit, writer, address, wait_s=3))
    finally:
        writer.engine.dispose()
    assert took is None
    assert kit.unpublished() == 2


def test_a_missing_relay_never_troubles_a_commit(kit) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    for address in (nobody, "relay.invalid:9"):
        writer = bootstrap(kit.settings.model_copy(update={"relay_enabled": False, "relay_wake_address": address}))
        try:
            body = SaleBody.model_validate(kit.body())
            for _ in range(3):  # a refused notice can surface on the next send: each must be absorbed
                (created,) = writer.service.create_many([(body, WORKER)])
                assert ObjectId.is_valid(created.view["id"])
        finally:
            writer.engine.dispose()
    assert kit.count() == 6
