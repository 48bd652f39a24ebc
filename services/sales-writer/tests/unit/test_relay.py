"""The relay's use case against in-memory fakes of the outbox, the publisher and the publish lock, and
the spans it makes with tracing on (a real tracer provider, spans kept in memory)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from supply_common import tracing
from supply_sales_writer.service_layer import relay_spans
from supply_sales_writer.service_layer.ports import OutboxRow
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


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    monkeypatch.delenv(tracing.ENDPOINT_ENV, raising=False)
    monkeypatch.setenv(tracing.SAMPLER_ENV, "parentbased_always_on")
    spans = InMemorySpanExporter()
    tracing.start("sales-writer", exporter=spans)
    yield spans
    tracing.stop()


def _traced(rows: list[OutboxRow], *traced: int) -> list[OutboxRow]:
    """The rows, those with the given ids written in traces of their own."""
    return [row._replace(traceparent=f"00-{row.id:032x}-{row.id:016x}-01") if row.id in traced else row for row in rows]


def test_a_traced_batch_has_its_claim_and_mark_under_the_first_rows_publish(exported: InMemorySpanExporter) -> None:
    store, publisher = FakeOutboxStore(_traced(outbox_rows(3), 2, 3)), FakePublisher()
    relay = Relay(store, publisher, FakeLock(), batch_size=4)
    assert asyncio.run(relay.publish_once()) == 3
    spans = exported.get_finished_spans()
    publishes = {s.attributes["supply.outbox_id"]: s for s in spans if s.kind == SpanKind.PRODUCER}
    assert sorted(publishes) == [2, 3]
    assert [publishes[n].parent.trace_id for n in (2, 3)] == [2, 3]  # each in its row's trace
    first, second = publishes[2], publishes[3]
    for name in ("mysql: claim outbox", "mysql: mark published"):
        (step,) = [s for s in spans if s.name == name]
        assert step.parent.span_id == first.context.span_id
        assert [link.context.span_id for link in step.links] == [second.context.span_id]
        assert step.attributes["supply.batch_size"] == 3
        assert first.start_time <= step.start_time <= step.end_time <= first.end_time
    assert all(s.status.is_ok for s in spans)


def test_an_untraced_batch_has_its_claim_and_mark_as_roots(exported: InMemorySpanExporter) -> None:
    relay, _, _ = _relay(2)
    assert asyncio.run(relay.publish_once()) == 2
    assert asyncio.run(relay.publish_once()) == 0  # an empty claim makes no span
    claim, mark = sorted(exported.get_finished_spans(), key=lambda s: s.start_time)
    assert (claim.name, mark.name) == ("mysql: claim outbox", "mysql: mark published")
    assert (claim.parent, mark.parent) == (None, None)
    assert [link.context.span_id for link in mark.links] == [claim.context.span_id]


def test_rows_of_traces_not_sampled_are_published_without_any_span(exported: InMemorySpanExporter) -> None:
    rows = [row._replace(traceparent=f"00-{row.id:032x}-{row.id:016x}-00") for row in outbox_rows(2)]
    store, publisher = FakeOutboxStore(rows), FakePublisher()
    relay = Relay(store, publisher, FakeLock(), batch_size=4)
    assert asyncio.run(relay.publish_once()) == 2
    assert exported.get_finished_spans() == ()
    assert store.published == [1, 2]


def test_a_traced_batch_whose_ack_fails_ends_its_publish_spans_as_failed(exported: InMemorySpanExporter) -> None:
    store, publisher = FakeOutboxStore(_traced(outbox_rows(2), 1, 2)), FakePublisher()
    publisher.fail_sends = 1
    relay = Relay(store, publisher, FakeLock(), batch_size=4)
    with pytest.raises(ConnectionError):
        asyncio.run(relay.publish_once())
    publishes = [s for s in exported.get_finished_spans() if s.kind == SpanKind.PRODUCER]
    assert [(s.status.status_code, s.status.description) for s in publishes] == [
        (StatusCode.ERROR, "ConnectionError")
    ] * 2
    assert not [s for s in exported.get_finished_spans() if s.name == "mysql: mark published"]


def test_with_tracing_off_the_relay_makes_no_span() -> None:
    assert tracing.tracer() is None
    relay, store, _ = _relay(3)
    asyncio.run(relay.publish_once())
    assert store.published == [1, 2, 3]
    assert relay_spans.claim_started() is None
