"""Row 4: the relay alone (`sales-writer relay`) draining a pre-filled outbox, against raw produce (row 4b)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bench.context import Context
from bench.model import Row
from bench.rows.raw_kafka import messages
from bench.schema import sales_database
from bench.services import require
from supply_common.processes import PROCESSES

INSERT = "INSERT INTO outbox (topic, msg_key, payload, created_at) VALUES (%s, %s, %s, %s)"
CHUNK = 2_000


def fill(ctx: Context, database: str, topic: str, batch: list[tuple[bytes, bytes]]) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    with ctx.stack.mysql(database) as connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM outbox")
        for start in range(0, len(batch), CHUNK):
            cursor.executemany(INSERT, [(topic, key, value, now) for key, value in batch[start : start + CHUNK]])
            connection.commit()


def backlog(ctx: Context, database: str) -> int:
    with ctx.stack.mysql(database) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
        return int(cursor.fetchone()[0])


def drained(ctx: Context, database: str) -> bool:
    """Cheap enough to ask every 50 ms without slowing the relay down (a count scans the backlog)."""
    with ctx.stack.mysql(database) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM outbox WHERE published_at IS NULL LIMIT 1")
        return cursor.fetchone() is None


SMALL_BACKLOG = 50_000
"""Below this the relay runs with batches of a tenth of the backlog instead of its own (5,000), so that
the drain spans several batches: the clock starts at the first marked one (the quick run's case)."""


def run(ctx: Context) -> Row:
    require("sales-writer", "relay", "migrate")
    row = Row("4", "Relay: drain of a pre-filled outbox")
    count = ctx.profile.backlog
    batch = ctx.shared.get("kafka_messages") or messages(ctx.profile.produce_count)
    batch = batch[:count]
    database = sales_database(ctx, "relay")
    timeout_s = ctx.profile.converge_timeout_s * 3
    sizing = {"relay_batch_size": max(100, count // 10)} if count < SMALL_BACKLOG else {}
    for rep in range(ctx.profile.reps_service):
        topic = ctx.topic(f"relay{rep}")
        ctx.step(f"row 4: filling the outbox with {len(batch):,} rows, rep {rep + 1}/{ctx.profile.reps_service}")
        fill(ctx, database, topic, batch)
        relay = ctx.service(
            f"relay-{rep}",
            PROCESSES["sales-writer-relay"].argv,
            mysql_database=database,
            sales_topic=topic,
            relay_metrics_port=0,
            **sizing,
        )
        relay.start(ctx.sampler, "sales-writer relay")
        try:
            ctx.step(f"row 4: relay draining {len(batch):,} rows, rep {rep + 1}/{ctx.profile.reps_service}")
            deadline = time.monotonic() + timeout_s
            first: tuple[float, int] | None = None
            remaining = len(batch)
            while remaining and time.monotonic() < deadline:
                if not relay.running:
                    raise RuntimeError(f"relay exited: {relay.log_tail()}")
                if first is None:
                    remaining = backlog(ctx, database)
                    if remaining < len(batch):
                        first = (time.perf_counter(), remaining)
                elif drained(ctx, database):
                    remaining = 0
                if remaining:
                    time.sleep(0.05)
            end = time.perf_counter()
        finally:
            relay.stop()
        if first is None or remaining:
            raise RuntimeError(f"relay did not drain {len(batch):,} rows in {timeout_s:.0f} s ({remaining} left)")
        rate = first[1] / (end - first[0]) if end > first[0] else float("nan")
        row.figure("drain_s", "outbox rows published/s", "msg/s").samples.append(rate)
    row.note = (
        f"{len(batch):,} rows, one relay process, batches of {sizing.get('relay_batch_size', 'its default')};"
        " timed from its first marked batch to an empty outbox"
    )
    return row
