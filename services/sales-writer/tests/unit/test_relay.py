"""The relay's use case against in-memory fakes of the outbox, the publisher and the publish lock."""

from __future__ import annotations

import asyncio

from supply_sales_writer.service_layer.relay import Relay

from .fakes import FakeLock, FakeOutboxStore, FakePublisher, outbox_rows


def _relay(
    rows: int, *, batch_size: int = 4, lock: FakeLock | None = None
) -> tuple[Relay, FakeOutboxStore, FakePublisher]:
    store, publisher = FakeOutboxStore(outbox_rows(rows)), FakePublisher()
    return Relay(store, publisher, lock or FakeLock(), batch_size=batch_size), store, publisher


def test_a_drain_publishes_every_row_in_id_order_then_marks_them() -> None:
    relay, store, publisher = _relay(10)
    assert asyncio.run(relay.drain()) is False
    assert [row.id for row in publisher.sent] == list(range(1, 11))
    assert store.published == list(range(1, 11))
    assert relay.publishing
    assert asyncio.run(relay.publish_once()) == 0


def test_without_the_publish_lock_nothing_is_claimed_or_sent() -> None:
    relay, store, publisher = _relay(5, lock=FakeLock(taken_elsewhere=True))
    assert asyncio.run(relay.drain()) is False
    assert (relay.publishing, publisher.sent, store.published, store.claimed) == (False, [], [], set())


def test_a_batch_whose_ack_fails_is_given_back_unmarked_and_published_later() -> None:
    relay, store, publisher = _relay(3)
    publisher.fail_sends = 1

    async def fail_then_drain() -> None:
        try:
            await relay.publish_once()
        except ConnectionError:
            pass
        else:
            raise AssertionError("the failed ack was not reported")
        assert (store.published, store.claimed) == ([], set())
        await relay.drain()

    asyncio.run(fail_then_drain())
    assert store.published == [1, 2, 3]


def test_closing_stops_the_publisher_and_gives_the_lock_up() -> None:
    lock = FakeLock()
    relay, _, publisher = _relay(1, lock=lock)
    asyncio.run(relay.drain())
    asyncio.run(relay.close())
    assert (publisher.started, lock.held, relay.publishing) == (False, False, False)
