"""Apply rate of `mongo-projector consume` over a backlog, with 1 and 3 processes, next to the raw
unordered bulk upsert (and insert) rate of the same server in the same run.

    uv run python -m bench.scripts.apply_rate --events 100000

Needs KAFKA_BOOTSTRAP_SERVERS and MONGO_URL (e.g. from `deploy/local/stack env`). Creates its own
topic and databases and drops the databases afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import MongoClient, UpdateOne

from supply_common.contract import SaleEvent, from_extended_json
from supply_common.kafka import ensure_topics, make_producer, sales_topics
from supply_common.testing import SAMPLE_DATASET
from supply_projector.config import ProjectorSettings
from supply_projector.domain import money
from supply_projector.domain.document import stored_document

CLI = str(Path(sys.executable).parent / "mongo-projector")


def backlog(count: int) -> list[SaleEvent]:
    rng = random.Random(5)
    samples = [from_extended_json(line) for line in SAMPLE_DATASET.read_text().splitlines() if line.strip()]
    now = datetime.now(UTC)
    return [
        SaleEvent.for_change(
            event_type="sale.created",
            sale_id=(sale_id := str(ObjectId())),
            version=1,
            occurred_at=now,
            sale=rng.choice(samples).model_copy(update={"id": sale_id}),
        )
        for _ in range(count)
    ]


async def produce(settings: ProjectorSettings, events: list[SaleEvent]) -> None:
    producer = make_producer(settings, linger_ms=20)
    await producer.start()
    try:
        for start in range(0, len(events), 5000):
            futures = [
                await producer.send(settings.sales_topic, value=e.to_bytes(), key=e.key)
                for e in events[start : start + 5000]
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


def consume_rate(settings: ProjectorSettings, processes: int, expected: int, timeout_s: float) -> dict[str, Any]:
    database = f"bench_proj_{processes}_{secrets.token_hex(3)}"
    env = {
        **os.environ,
        "MONGO_URL": settings.mongo_url.get_secret_value(),
        "MONGO_DATABASE": database,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "SALES_TOPIC": settings.sales_topic,
        "DLQ_TOPIC": settings.dlq_topic,
        "CONSUMER_GROUP": f"bench-{database}",
        "METRICS_PORT": "0",
        "HEARTBEAT_FILE": "",
        "LOG_LEVEL": "WARNING",
    }
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_url.get_secret_value())
    sales = client[database]["sales"]
    started = time.monotonic()
    running = [
        subprocess.Popen([CLI, "consume"], env=env, stdout=subprocess.DEVNULL)  # noqa: S603
        for _ in range(processes)
    ]
    first: float | None = None
    count = 0
    try:
        while time.monotonic() - started < timeout_s:
            count = sales.estimated_document_count()
            if count and first is None:
                first = time.monotonic()
            if count >= expected:
                break
            time.sleep(0.25)
        finished = time.monotonic()
    finally:
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            process.wait(60)
        client.drop_database(database)
        client.close()
    applying = finished - (first or started)
    return {
        "processes": processes,
        "applied": count,
        "wall_s": round(finished - started, 1),
        "events_per_s": round(count / applying) if applying > 0 else None,
    }


def raw_rates(settings: ProjectorSettings, events: list[SaleEvent], budget_s: float) -> dict[str, Any]:
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_url.get_secret_value(), tz_aware=True)
    info = client.admin.command("buildInfo")
    mode: money.MoneyMode = "double" if str(info.get("ferretdbVersion", "")).startswith("v1.") else "decimal128"
    now = datetime.now(UTC)
    documents = [money.encode(stored_document(e, now) or {}, mode) for e in events]
    database = client[f"bench_raw_{secrets.token_hex(3)}"]
    results: dict[str, Any] = {"server": info.get("ferretdbVersion") or info.get("version")}
    try:
        for label, write in (
            (
                "bulk_upsert",
                lambda coll, chunk: coll.bulk_write(
                    [UpdateOne({"_id": d["_id"]}, {"$set": d}, upsert=True) for d in chunk], ordered=False
                ),
            ),
            ("insert_many", lambda coll, chunk: coll.insert_many(chunk, ordered=False)),
        ):
            collection = database[label]
            done = 0
            started = time.monotonic()
            while done < len(documents) and time.monotonic() - started < budget_s:
                chunk = documents[done : done + 1000]
                write(collection, chunk)
                done += len(chunk)
            elapsed = time.monotonic() - started
            results[label] = {"documents": done, "seconds": round(elapsed, 1), "per_s": round(done / elapsed)}
    finally:
        client.drop_database(database.name)
        client.close()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--raw-budget", type=float, default=120, help="Seconds at most per raw measurement.")
    args = parser.parse_args()
    topic = f"bench_sales_{secrets.token_hex(3)}"
    settings = ProjectorSettings(sales_topic=topic, dlq_topic=f"{topic}_dlq", sales_topic_partitions=6)
    await ensure_topics(settings, topics=sales_topics)
    events = backlog(args.events)
    started = time.monotonic()
    await produce(settings, events)
    print(f"produced {len(events)} events to {topic} in {time.monotonic() - started:.1f} s", flush=True)
    for processes in (1, 3):
        print("consume", consume_rate(settings, processes, len(events), args.timeout), flush=True)
    print("raw", raw_rates(settings, events, args.raw_budget), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
