"""Idle publish latency: from a create's commit (`occurred_at`) to the event's receipt by a consumer.

Creates one sale at a time, waits for its event, pauses, repeats. Needs a running `sales-writer
serve` and the broker it publishes to, and the local run's auth (the demo technical worker signs in):

    uv run python -m bench.scripts.publish_latency --url http://127.0.0.1:8002 \
        --bootstrap 127.0.0.1:9092 --topic sales.events --count 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaConsumer

from bench.identity import demo_worker_token
from supply_common.kafka import client_options
from supply_common.testing.sales import sale_body

BODY = sale_body(email="latency@example.org", store="Austin", saleDate="2024-05-01T10:00:00.123Z")


async def main(url: str, auth_url: str, bootstrap: str, topic: str, count: int, pause_s: float) -> None:
    headers = {"Authorization": f"Bearer {demo_worker_token(auth_url)}"}
    consumer = AIOKafkaConsumer(topic, **client_options(bootstrap), auto_offset_reset="latest")
    await consumer.start()
    await consumer.seek_to_end()
    await asyncio.sleep(1)
    samples: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            for _ in range(count):
                sale_id = (await client.post("/sales", json=BODY, headers=headers)).json()["id"]
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    batch = await consumer.getmany(timeout_ms=50)
                    received = datetime.now(UTC)
                    event = next(
                        (json.loads(r.value) for part in batch.values() for r in part if r.key == sale_id.encode()),
                        None,
                    )
                    if event is not None:
                        committed = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
                        samples.append((received - committed).total_seconds() * 1000)
                        break
                await asyncio.sleep(pause_s)
    finally:
        await consumer.stop()
    samples.sort()
    print(
        f"{len(samples)} events: commit to consumer receipt p50 {samples[len(samples) // 2]:.1f} ms, "
        f"p99 {samples[int(len(samples) * 0.99)]:.1f} ms, max {samples[-1]:.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8002")
    parser.add_argument("--auth-url", default="http://127.0.0.1:8001", help="Where the demo worker logs in.")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="sales.events")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--pause", type=float, default=0.3)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.auth_url, args.bootstrap, args.topic, args.count, args.pause))
