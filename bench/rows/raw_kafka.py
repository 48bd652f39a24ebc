"""Row 4b: raw aiokafka produce rate of envelope-sized messages, with the project's producer settings."""

from __future__ import annotations

import asyncio
import time

from bench import data
from bench.context import Context
from bench.model import Row
from supply_common.kafka import make_producer
from supply_common.settings import KafkaSettings


def messages(count: int, seed: int = 21) -> list[tuple[bytes, bytes]]:
    """(key, envelope) pairs: one `sale.created` per fresh sale."""
    sales = data.sales(count, seed=seed)
    data.check_envelope(data.envelope(sales[0]))
    return [(sale["_id"].encode(), data.envelope(sale)) for sale in sales]


async def produce(bootstrap: str, topic: str, batch: list[tuple[bytes, bytes]]) -> float:
    """Send everything without waiting in between; the rate counts until the last acknowledgement."""
    producer = make_producer(KafkaSettings(kafka_bootstrap_servers=bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(topic, batch[0][1], key=batch[0][0])
        started = time.perf_counter()
        futures = [await producer.send(topic, value, key=key) for key, value in batch[1:]]
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return (len(batch) - 1) / elapsed


def run(ctx: Context) -> Row:
    row = Row("4b", "Raw aiokafka produce (idempotent, acks=all)")
    count = ctx.profile.produce_count
    ctx.step(f"row 4b: preparing {count:,} envelopes")
    batch = ctx.shared.setdefault("kafka_messages", messages(count))
    row.note = f"{count:,} messages of about {sum(len(v) for _, v in batch[:100]) // 100} bytes, 6 partitions"
    for rep in range(ctx.profile.reps):
        topic = ctx.topic(f"raw{rep}")
        ctx.step(f"row 4b: producing {count:,} messages, rep {rep + 1}/{ctx.profile.reps}")
        rate = asyncio.run(produce(ctx.stack.kafka, topic, batch))
        row.figure("msgs_s", "messages/s", "msg/s").samples.append(rate)
    return row
