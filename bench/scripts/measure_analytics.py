"""Time of each analytics route of the read API over a copy of N sales, and the store commands one
live-sized batch costs.

    uv run python services/mongo-projector/scripts/measure_analytics.py --sales 3000

Needs MONGO_URL (e.g. from `deploy/local/stack env`). Fills a database of its own through the
projector's use case (no Kafka), calls the routes in process, and drops the database afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import time
from datetime import UTC, datetime, timedelta

import httpx
from bson import ObjectId
from pymongo import monitoring

from supply_common.contract import PURCHASE_METHODS, STORES, SaleEvent, from_extended_json
from supply_common.testing import SAMPLE_DATASET
from supply_projector.bootstrap import bootstrap
from supply_projector.config import ProjectorSettings
from supply_projector.entrypoints.app import create_app
from supply_projector.service_layer.ports import Record

MANAGER = {"X-User-Id": "m", "X-User-Role": "senior_management", "X-User-Email": "m@example.com"}
ROUTES = ["summary", "by-store", "by-month", "by-method", "top-items", "satisfaction", "coupons"]
WINDOWS = {
    "all time": {},
    "30 days": {"date_from": "2016-03-01T00:00:00Z", "date_to": "2016-03-31T00:00:00Z"},
    "1 year, odd edges": {"date_from": "2015-06-10T13:20:00Z", "date_to": "2016-06-10T08:00:00Z"},
}


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def sales(count: int, rng: random.Random) -> list[SaleEvent]:
    samples = [from_extended_json(line) for line in SAMPLE_DATASET.read_text().splitlines() if line.strip()]
    start = datetime(2013, 1, 1, tzinfo=UTC)
    made = []
    for _ in range(count):
        sale = rng.choice(samples)
        sale = sale.model_copy(
            update={
                "id": str(ObjectId()),
                "saleDate": start + timedelta(seconds=rng.randrange(5 * 365 * 86400), milliseconds=rng.randrange(1000)),
                "storeLocation": rng.choice(STORES),
                "purchaseMethod": rng.choice(PURCHASE_METHODS),
                "couponUsed": rng.random() < 0.1,
            }
        )
        made.append(
            SaleEvent.for_change(
                event_type="sale.created", sale_id=sale.id, version=1, occurred_at=datetime.now(UTC), sale=sale
            )
        )
    return made


def records(events: list[SaleEvent], first_offset: int) -> list[Record]:
    return [Record("t", 0, first_offset + i, e.key, e.to_bytes()) for i, e in enumerate(events)]


async def main(count: int, repeat: int, batch: int) -> None:
    commands = Commands()
    monitoring.register(commands)
    settings = ProjectorSettings(mongo_database=f"measure_analytics_{secrets.token_hex(4)}")
    container = bootstrap(settings)
    try:
        projector = container.projector(None)
        events = sales(count, random.Random(3))
        started = time.perf_counter()
        for start in range(0, count, batch):
            await projector.apply(records(events[start : start + batch], start))
        print(f"loaded {count} sales in {time.perf_counter() - started:.1f} s")

        live = sales(5, random.Random(4))
        commands.names.clear()
        began = time.perf_counter()
        await projector.apply(records(live, count))
        took = time.perf_counter() - began
        print(f"a batch of 5 new sales: {len(commands.names)} commands, {took * 1000:.1f} ms: {commands.names}")

        app = create_app(container)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p") as client:
            for window, params in WINDOWS.items():
                for route in ROUTES:
                    times = []
                    for _ in range(repeat):
                        began = time.perf_counter()
                        answer = await client.get(f"/analytics/{route}", params=params, headers=MANAGER)
                        times.append(time.perf_counter() - began)
                        assert answer.status_code == 200, answer.text
                    print(f"{window:>18} {route:>12}: median {statistics.median(times) * 1000:7.1f} ms")
    finally:
        container.client.drop_database(settings.mongo_database)
        container.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sales", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500, help="Records per batch while loading.")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.sales, arguments.repeat, arguments.batch))
