"""Creates per second against a running `sales-writer serve`, at the given concurrencies, as the local
run's demo technical worker (a token from the auth at `--auth-url`).

    uv run python -m bench.scripts.writer_creates --url http://127.0.0.1:8002 \
        --seconds 10 --concurrency 1 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import httpx

from bench.identity import demo_worker_token
from supply_common.testing.sales import sale_body

ITEMS = [
    {"name": "pens", "tags": ["writing", "office", "school", "stationary"], "price": "2.50", "quantity": 3},
    {"name": "notepad", "tags": ["office", "writing", "school"], "price": "12.10", "quantity": 2},
    {"name": "laptop", "tags": ["electronics", "school", "office"], "price": "899.99", "quantity": 1},
]
BODY = json.dumps(
    sale_body(email="bench@example.org", saleDate="2024-05-01T10:00:00.123Z", items=ITEMS, purchaseMethod="In store")
).encode()


async def run(url: str, headers: dict[str, str], concurrency: int, seconds: float) -> tuple[float, list[float]]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.post("/sales", content=BODY, headers=headers)
                if response.status_code != 201:
                    raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, sorted(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8002")
    parser.add_argument("--auth-url", default="http://127.0.0.1:8001", help="Where the demo worker logs in.")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, action="append")
    args = parser.parse_args()
    for concurrency in args.concurrency or [1, 16]:
        headers = {"Authorization": f"Bearer {demo_worker_token(args.auth_url)}", "content-type": "application/json"}
        rate, latencies = asyncio.run(run(args.url, headers, concurrency, args.seconds))
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[int(len(latencies) * 0.99)] * 1000
        print(f"concurrency {concurrency}: {rate:.0f} creates/s, latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
