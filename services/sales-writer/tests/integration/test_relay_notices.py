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
    relay = kit.container.new_relay(poll_interval_s=SLOW_POLL_S)
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


async def _batches_of_a_relay_with_spacing(kit, writer, min_cycle_s: float) -> list[tuple[float, int, float]]:
    """A relay that claims at most once per `min_cycle_s`, woken after each commit: one sale after a
    quiet spell, then two more at once. Each published batch as (seconds since the first commit,
    rows, seconds from that batch's first wake-up to its publication)."""
    published: list[tuple[float, int]] = []
    first_out, all_out = asyncio.Event(), asyncio.Event()

    async def record(rows: list) -> None:
        published.append((time.monotonic(), len(rows)))
        first_out.set()
        if sum(count for _, count in published) >= 3:
            all_out.set()

    relay = kit.container.new_relay(poll_interval_s=SLOW_POLL_S, min_cycle_s=min_cycle_s, after_publish=record)
    task = asyncio.create_task(relay.run())
    body = SaleBody.model_validate(kit.body())
    try:
        await asyncio.sleep(min_cycle_s * 1.6)  # the relay found nothing, and longer ago than its spacing
        woken = []
        async with asyncio.timeout(10):
            for _ in range(3):
                await asyncio.to_thread(writer.service.create_many, [(body, WORKER)])
                woken.append(time.monotonic())
                relay.wake()
                if len(woken) == 1:
                    await first_out.wait()
            await all_out.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return [(at - woken[0], rows, at - woken[min(i, 1)]) for i, (at, rows) in enumerate(published)]


def test_under_steady_commits_claims_are_spaced_and_gather_what_came_meanwhile(kit) -> None:
    writer = bootstrap(kit.settings.model_copy(update={"relay_enabled": False}))
    try:
        batches = asyncio.run(_batches_of_a_relay_with_spacing(kit, writer, min_cycle_s=0.6))
    finally:
        writer.engine.dispose()
    (first_at, first_rows, first_wait), (second_at, second_rows, _) = batches
    # The first sale came after a quiet spell: claimed at once, not held for the spacing.
    assert first_rows == 1
    assert first_wait < 0.4, batches
    # The next two were committed right after it: held until the spacing had passed since the first
    # claim, then published together.
    assert second_rows == 2, batches
    assert second_at - first_at > 0.4, batches
    assert kit.count() == 3
