"""The outbox relay: publishes committed outbox rows in id order, then marks them published.

At least once: a crash between the broker's ack and the mark republishes the batch (a duplicate
that version-guarded consumers ignore), never loses it.

One relay publishes at a time. The topic is a compacted changelog: compaction keeps each sale's last
record, and a consumer rebuilding from offset 0 ends with it. Two relays publishing at once claim
different rows and either may be acknowledged first, so a sale's older version could land after its
newer one and become the version a rebuild restores. So a relay publishes only while it holds the
publish lock (`publish_lock`, a MySQL named lock of the sales database on a connection of its own);
the others (more relay processes, or the relay of each server process with `WORKERS=N`) stand by
and try again every second and on a commit notice. The holder checks the lock as each claim begins
(in the claim's first statement) and right after it on the lock's own connection (which also
notices a lost connection); a relay that lost it gives that claim back,
confirms only what it already sent, and stands by. The first claim after taking the lock waits for
the rows a previous holder still has claimed (its batch in flight is then either marked or given
back) instead of skipping them; later claims skip the rows of this relay's own batch being confirmed
(`FOR UPDATE SKIP LOCKED`).

What is left: a holder whose database connections die while its produce is in flight can see that
batch land after its successor has published it again and later versions, if the producer is still
retrying it when the successor takes over (the server must first notice the connection is gone, and
a standby retries every second; the producer gives a batch up after its 5 s request timeout).
Reconcile repairs a sale left stale that way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Literal, TypedDict, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from supply_common.wakeup import Wakeup
from supply_sales_writer.service_layer.ports import (
    Claim,
    OutboxRow,
    OutboxStats,
    OutboxStore,
    Placed,
    Publisher,
    PublishLock,
)
from supply_sales_writer.service_layer.relay_spans import BatchSpans, claim_started

log = logging.getLogger(__name__)
T = TypeVar("T")

# Each relay measures the whole outbox; with several workers the latest reading is the answer.
BACKLOG = Gauge("sales_writer_outbox_backlog", "Outbox rows not yet published.", multiprocess_mode="mostrecent")
OLDEST_AGE = Gauge(
    "sales_writer_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest unpublished row.",
    multiprocess_mode="mostrecent",
)
PUBLISH_LATENCY = Histogram(
    "sales_writer_publish_latency_seconds",
    "From the commit of a change to the broker's ack of its event.",
    # Fine below a quarter of a second, as the projector's commit-to-written lag, so that the two
    # can be read side by side.
    buckets=(
        *(0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25),
        *(0.5, 1, 2.5, 5, 10, 30, 60),
    ),
)
PUBLISHED = Counter("sales_writer_events_published_total", "Events acknowledged by the broker.")
RELAY_ERRORS = Counter("sales_writer_relay_errors_total", "Relay cycles that failed (broker or database).")
PUBLISHING = Gauge(
    "sales_writer_relay_publishing",
    "Relays holding the publish lock (1: this one publishes; 0: it stands by for another).",
    multiprocess_mode="livesum",
)

STANDBY_RETRY_S = 1.0
"""How often a relay on standby tries to take the publish lock (a commit notice also makes it try)."""

AfterPublish = Callable[[list[OutboxRow]], Awaitable[None]]


class RelayOptions(TypedDict, total=False):
    """A relay's keyword options (see `Relay`), as callers gather them."""

    batch_size: int
    poll_interval_s: float
    min_cycle_s: float
    retention: timedelta
    maintenance: Callable[[], object] | None
    maintenance_interval_s: float
    after_publish: AfterPublish | None


@dataclass(eq=False)
class Relay:
    """Claims rows of the `outbox`, hands them to the `publisher` and marks them once acknowledged,
    while it holds the publish `lock`; `run()` keeps doing so until cancelled."""

    outbox: OutboxStore
    publisher: Publisher
    lock: PublishLock
    _: KW_ONLY
    batch_size: int = 500
    poll_interval_s: float = 0.2
    min_cycle_s: float = 0.0
    retention: timedelta = timedelta(hours=24)
    maintenance: Callable[[], object] | None = None
    maintenance_interval_s: float = 60.0
    after_publish: AfterPublish | None = None
    healthy: bool = field(default=False, init=False)
    last_error: str | None = field(default=None, init=False)
    _publishing: bool = field(default=False, init=False, repr=False)
    _claim_waits: bool = field(default=False, init=False, repr=False)
    _waker: Wakeup = field(default_factory=Wakeup, init=False, repr=False)
    _wakeup: asyncio.Event | None = field(default=None, init=False, repr=False)
    _next_maintenance: float = field(default=0.0, init=False, repr=False)
    _next_gauges: float = field(default=0.0, init=False, repr=False)
    _cycle_started: float = field(default=float("-inf"), init=False, repr=False)

    def status(self) -> Literal["ok", "degraded"]:
        """Whether its last cycle worked (publishing, or finding the lock taken on standby)."""
        return "ok" if self.healthy else "degraded"

    @property
    def publishing(self) -> bool:
        """Whether this relay holds the publish lock (False: it stands by, or has not tried yet)."""
        return self._publishing

    def _note_lock(self) -> None:
        """Follow the lock's state in the metric (called after each step that may change it)."""
        held = self.lock.held
        if held != self._publishing:
            self._publishing = held
            PUBLISHING.inc() if held else PUBLISHING.dec()

    async def close(self) -> None:
        """Stop the publisher (sending what it holds), then give the publish lock up."""
        await self.publisher.stop()
        await _in_thread(self.lock.release)
        self._note_lock()

    def wake(self) -> None:
        """Safe from any thread: a local commit wrote outbox rows."""
        self._waker.set()

    async def run(self) -> None:
        self._wakeup = self._waker.arm()
        backoff = 0.2
        try:
            while True:
                try:
                    self._cycle_started = time.monotonic()
                    more = await self.drain()
                    self.healthy, self.last_error, backoff = True, None, 0.2
                    await self._housekeeping()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - broker or database away: degrade and retry
                    RELAY_ERRORS.inc()
                    if self.healthy or self.last_error is None:
                        log.warning("relay cycle failed", extra={"error": repr(exc)[:300]})
                    self.healthy, self.last_error = False, repr(exc)[:300]
                    # What was sent goes out (or fails) before the lock is free for another relay.
                    await self.close()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                if not self.publishing:
                    # On standby nothing is claimed, so nothing is sent: the publisher can disconnect.
                    await self.publisher.stop()
                    await self._idle(max(self.poll_interval_s, STANDBY_RETRY_S))
                elif not more:
                    await self._idle(self.poll_interval_s)
        finally:
            self.healthy = False
            await self.close()

    async def _idle(self, timeout_s: float) -> None:
        assert self._wakeup is not None
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the result of a wait that
        # completes in the same loop turn as a cancellation and drops the cancellation, so the
        # relay would go on and a server's shutdown would wait for it forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._wakeup.wait()
        self._wakeup.clear()
        # While commits keep coming, claim no sooner than `min_cycle_s` after the last claim began,
        # so that one cycle takes what arrived meanwhile. A cycle costs mostly the same whatever it
        # carries (claim, produce request, mark and commit here; a fetch and a write downstream), so
        # fewer, fuller cycles cost the relay, MariaDB and Kafka less per event (docs/performance.md).
        # After a quiet spell the last claim is long past: no wait.
        spacing = self._cycle_started + self.min_cycle_s - time.monotonic()
        if spacing > 0:
            await asyncio.sleep(spacing)

    async def publish_once(self) -> int:
        """Claim, publish and mark one batch; returns how many rows were published."""
        batch = await self._claim_and_send()
        return 0 if batch is None else await self._confirm(batch)

    async def drain(self, budget_s: float = 1.0) -> bool:
        """Publish full batches for up to `budget_s`; returns whether rows are probably still waiting
        (the last batch was full). Without the publish lock (another relay holds it) nothing is
        claimed and it returns False; `publishing` says which.

        Batch N is confirmed (acknowledgements awaited, rows marked, committed) while batch N+1 is
        claimed (SKIP LOCKED passes over N's rows) and handed to the producer, so MySQL and Kafka
        work at the same time. Order per sale holds: N+1 reaches the producer after N, and the
        idempotent producer keeps that order per partition. If N fails, N+1 is not marked either:
        both are sent again later (duplicates, which version-guarded consumers ignore)."""
        deadline = time.monotonic() + budget_s
        batch = await self._claim_and_send()
        while batch is not None:
            full = len(batch.rows) == self.batch_size
            confirming = asyncio.ensure_future(self._confirm(batch))
            following: _Batch | None = None
            try:
                if full and time.monotonic() < deadline:
                    following = await self._claim_and_send()
            finally:
                try:
                    await confirming
                except BaseException:
                    # A confirmation cancelled before its first step never ran its own clean-up:
                    # give the claim back here too (abandoning twice is harmless).
                    await batch.abandon()
                    if following is not None:
                        await following.abandon()
                    raise
            if not full:
                return False
            if following is None:
                return self.publishing  # the budget ran out, or the lock was lost
            batch = following
        return False

    async def _claim_and_send(self) -> _Batch | None:
        """Lock the next unpublished rows and hand them to the producer; None when there are none or
        this relay does not hold the publish lock."""
        try:
            if not self.lock.held:
                if not await _in_thread(self.lock.acquire):
                    return None
                self._claim_waits = True
            await self.publisher.start()
            started_ns = claim_started()
            claim = await _in_thread(
                partial(self.outbox.claim, self.lock, self.batch_size, wait=self._claim_waits),
                release=_give_back,
            )
            self._claim_waits = False
        finally:
            self._note_lock()
        if claim is None:
            return None
        spans = None if started_ns is None else BatchSpans(claim.rows, started_ns)
        try:
            acks = await self.publisher.send(claim.rows, None if spans is None else spans.publishes)
        except BaseException as exc:
            if spans is not None:
                spans.end(exc)
            await _in_thread(claim.give_back)
            raise
        return _Batch(claim, acks, spans)

    async def _confirm(self, batch: _Batch) -> int:
        """Wait for every acknowledgement of a batch, then mark its rows published and commit."""
        try:
            answers = await asyncio.gather(*batch.acks)
            acked = datetime.now(UTC)
            acked_us = acked.timestamp() * 1e6
            for row in batch.rows:
                PUBLISH_LATENCY.observe(max(0.0, (acked_us - row.created_us) / 1e6))
            PUBLISHED.inc(len(batch.rows))
            if self.after_publish is not None:
                await self.after_publish(batch.rows)
            placed = [answer for answer in answers if isinstance(answer, Placed)]
            with batch.marking():
                await _in_thread(batch.claim.mark_published, acked, placed)
                log.debug(
                    "outbox batch published",
                    extra={"rows": len(batch.rows), "first_id": batch.rows[0].id, "last_id": batch.rows[-1].id},
                )
            if batch.spans is not None:
                batch.spans.end()
            return len(batch.rows)
        except BaseException as exc:
            if batch.spans is not None:
                batch.spans.end(exc)
            raise
        finally:
            await batch.abandon()

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if now >= self._next_gauges:
            self._next_gauges = now + 1.0
            await _in_thread(self.update_gauges)
        if now >= self._next_maintenance and self.publishing:  # the one publisher purges
            self._next_maintenance = now + self.maintenance_interval_s
            await _in_thread(self.purge)
            if self.maintenance is not None:
                await _in_thread(self.maintenance)

    def stats(self) -> OutboxStats:
        """The outbox as it is now (blocking)."""
        return self.outbox.stats()

    def update_gauges(self) -> OutboxStats:
        current = self.outbox.stats()
        BACKLOG.set(current.backlog)
        oldest = current.oldest_unpublished_at
        OLDEST_AGE.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0)
        return current

    def purge(self) -> int:
        """Delete the rows published longer than the retention ago; how many went (blocking)."""
        return self.outbox.purge(datetime.now(UTC) - self.retention)


@dataclass
class _Batch:
    """Claimed rows (locked until marked or given back) and their pending acks."""

    claim: Claim
    acks: list[asyncio.Future[object]]
    spans: BatchSpans | None = None
    """Its spans, while tracing is on."""

    @property
    def rows(self) -> list[OutboxRow]:
        return self.claim.rows

    def marking(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext() if self.spans is None else self.spans.marking()

    async def abandon(self) -> None:
        """Give the claim back unless it was marked; acks that may still fail are observed so their
        errors are not reported as never retrieved."""
        if self.spans is not None:
            self.spans.end("given back")  # nothing if they ended already
        for ack in self.acks:
            if ack.done():
                _observe(ack)  # at once: a callback on a done future is one more loop handle per row
            else:
                ack.add_done_callback(_observe)
        if not self.claim.closed:
            await _in_thread(self.claim.give_back)


def _observe(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()


async def _in_thread(function: Callable[..., T], *args: object, release: Callable[[T], object] | None = None) -> T:
    """Run blocking database work in a thread; on cancellation wait for it before going on, so a
    connection is never used by two threads at once. `release` undoes a result nobody will use
    (a claim that completed after its caller was cancelled still holds a connection and its locks)."""
    work = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            result = await work
            if release is not None:
                await asyncio.to_thread(release, result)
        raise


def _give_back(claim: Claim | None) -> None:
    if claim is not None:
        claim.give_back()
