"""Row 5: projector catch-up over a backlog of `sale.created` events, with 1 and 3 consumer processes,
against the raw bulk writes of row 5b. Progress is read from the group's committed offsets."""

from __future__ import annotations

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient

from bench.context import Context
from bench.model import Row
from bench.rows.raw_kafka import messages, produce
from bench.services import ServiceProcess, require
from supply_common.kafka import client_options


async def catch_up(
    bootstrap: str, group: str, target: int, processes: list[ServiceProcess], budget_s: float, poll_s: float = 0.05
) -> tuple[tuple[float, int] | None, tuple[float, int]]:
    """Follow the group's committed offsets (their sum) until they reach `target` or the budget runs
    out: (time and sum at the first commit seen, time and sum at the last reading)."""
    admin = AIOKafkaAdminClient(**client_options(bootstrap), request_timeout_ms=10_000)
    await admin.start()
    try:
        first: tuple[float, int] | None = None
        done = 0
        deadline = time.monotonic() + budget_s
        while True:
            for process in processes:
                if not process.running:
                    raise RuntimeError(f"projector exited: {process.log_tail()}")
            offsets = await admin.list_consumer_group_offsets(group)
            done = sum(max(0, meta.offset) for meta in offsets.values())
            now = time.perf_counter()
            if first is None and done > 0:
                first = (now, done)
            if done >= target or time.monotonic() > deadline:
                return first, (now, done)
            await asyncio.sleep(poll_s)
    finally:
        await admin.close()


def run(ctx: Context) -> Row:
    require("mongo-projector", "consume")
    row = Row("5", "Projector: catch-up over a backlog")
    count = ctx.profile.backlog
    batch = (ctx.shared.get("kafka_messages") or messages(ctx.profile.produce_count))[:count]
    budget_s = ctx.profile.projector_budget_s
    incomplete: list[str] = []
    untimed: list[str] = []
    for rep in range(ctx.profile.reps_projector):
        for consumers in ctx.profile.consumers:
            suffix = f"proj{consumers}r{rep}"
            topic = ctx.topic(suffix, compact=True)
            dlq = ctx.topic(f"{suffix}.dlq", partitions=1)
            mongo_db = ctx.mongo_database(suffix)
            group = f"bench-{ctx.run_id}-{suffix}"
            ctx.step(f"row 5: producing a backlog of {len(batch):,} events, rep {rep + 1}")
            asyncio.run(produce(ctx.stack.kafka, topic, batch))
            ctx.step(f"row 5: {consumers} consumer(s) catching up on {len(batch):,} events, rep {rep + 1}")
            processes = [
                ctx.consumer(
                    f"projector-{suffix}-{index}", mongo_database=mongo_db, topic=topic, dlq=dlq, group=group
                ).start(ctx.sampler, "mongo-projector consume")
                for index in range(consumers)
            ]
            target = len(batch) - 1
            try:
                first, (end, done) = asyncio.run(catch_up(ctx.stack.kafka, group, target, processes, budget_s))
            finally:
                for process in processes:
                    process.stop()
            if first is None:
                raise RuntimeError(f"{consumers} consumer(s) applied nothing in {budget_s:.0f} s")
            if done < target:
                incomplete.append(f"{consumers} consumer(s) rep {rep + 1}: {done:,}/{len(batch):,} in {budget_s:.0f} s")
            if done == first[1]:
                # Everything was committed by the first reading: no interval to divide by.
                untimed.append(f"{consumers} consumer(s) rep {rep + 1}")
                continue
            rate = (done - first[1]) / (end - first[0])
            row.figure(
                f"events_s_{consumers}", f"events applied/s, {consumers} consumer(s)", "events/s"
            ).samples.append(rate)
    row.note = f"{len(batch):,} events in 6 partitions; timed from the first committed batch"
    if incomplete:
        row.note += "; incomplete: " + ", ".join(incomplete)
    if untimed:
        row.note += "; applied in full before a second reading, not timed: " + ", ".join(untimed)
    return row
