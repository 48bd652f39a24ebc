"""The gateway's added latency: the same requests through the gateway and straight to the upstream,
interleaved at a fixed rate in one run, against the real services started as processes.

    set -a; eval "$(python3 deploy/local/stack env)"; set +a
    uv run python -m bench.scripts.gateway_latency --rate 100 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from supply_common.testing.deployment import Deployment
from supply_common.testing.fixtures import Servers
from supply_common.testing.sales import sale_body

ROOT = Path(__file__).resolve().parents[3]

PASSWORD = f"Bench-{secrets.token_urlsafe(12)}"
WORKER = f"bench.worker.{secrets.token_hex(3)}@example.com"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def run_load(
    targets: dict[str, tuple[httpx.AsyncClient, str, dict[str, str]]], rate: float, seconds: float
) -> dict[str, list[float]]:
    """Open loop: one request every 1/rate s, alternating between the targets."""
    samples: dict[str, list[float]] = {name: [] for name in targets}
    errors: dict[str, int] = dict.fromkeys(targets, 0)
    names = list(targets)
    tasks = []

    async def one(name: str) -> None:
        client, path, headers = targets[name]
        started = time.perf_counter()
        response = await client.get(path, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code == 200:
            samples[name].append(elapsed)
        else:
            errors[name] += 1

    start = time.perf_counter()
    total = int(rate * seconds)
    for index in range(total):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(names[index % len(names)])))
    await asyncio.gather(*tasks)
    for name, count in errors.items():
        if count:
            print(f"  {name}: {count} non-200 answers", file=sys.stderr)
    return samples


async def measure(deployment: Deployment, rate: float, seconds: float, warmup_s: float) -> list[dict[str, Any]]:
    gateway, projector = deployment.url("gateway"), deployment.url("mongo-projector")
    async with httpx.AsyncClient(timeout=10) as setup:
        login = await setup.post(f"{deployment.url('auth')}/login", json={"email": WORKER, "password": PASSWORD})
        login.raise_for_status()
        token = login.json()["access_token"]
        me = (await setup.get(f"{deployment.url('auth')}/me", headers={"authorization": f"Bearer {token}"})).json()
        body = sale_body(email="bench@example.com", price="3.50", quantity=4)
        created = await setup.post(f"{gateway}/api/sales", json=body, headers={"authorization": f"Bearer {token}"})
        created.raise_for_status()
        sale_id = created.json()["id"]
        ready = await setup.get(
            f"{gateway}/api/sales/{sale_id}",
            params={"min_version": 1, "wait_ms": 5000},
            headers={"authorization": f"Bearer {token}"},
        )
        ready.raise_for_status()
    through = {"authorization": f"Bearer {token}"}
    direct = {"x-user-id": me["id"], "x-user-role": me["role"], "x-user-email": me["email"]}
    results = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with (
        httpx.AsyncClient(base_url=gateway, limits=limits, timeout=10) as via,
        httpx.AsyncClient(base_url=projector, limits=limits, timeout=10) as straight,
    ):
        for route, gateway_path, upstream_path in (
            ("GET one sale", f"/api/sales/{sale_id}", f"/sales/{sale_id}"),
            ("GET search (20)", "/api/sales?limit=20", "/sales?limit=20"),
        ):
            targets = {"gateway": (via, gateway_path, through), "direct": (straight, upstream_path, direct)}
            await run_load(targets, rate, warmup_s)
            samples = await run_load(targets, rate, seconds)
            row: dict[str, Any] = {"route": route, "rate_per_s": rate, "seconds": seconds}
            for name, values in samples.items():
                row[name] = {
                    "n": len(values),
                    "p50_ms": round(percentile(values, 50), 3),
                    "p99_ms": round(percentile(values, 99), 3),
                    "mean_ms": round(statistics.fmean(values), 3),
                }
            row["added_p50_ms"] = round(row["gateway"]["p50_ms"] - row["direct"]["p50_ms"], 3)
            row["added_p99_ms"] = round(row["gateway"]["p99_ms"] - row["direct"]["p99_ms"], 3)
            results.append(row)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second in total (both paths)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=ROOT / "test-output" / "gateway-latency.json")
    args = parser.parse_args()

    mysql_url = os.environ["MYSQL_URL"]
    engine = create_engine(mysql_url + "/?charset=utf8mb4")
    made: list[str] = []

    def make_database(prefix: str) -> str:
        name = f"test_{prefix}_{secrets.token_hex(4)}"
        with engine.begin() as connection:
            connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
        made.append(name)
        return name

    deployment = Deployment.create(
        Servers(mysql_url, os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["MONGO_URL"]),
        make_database=make_database,
        extra_env={"LOG_LEVEL": "WARNING", "RATE_USER_PER_S": "100000", "RATE_USER_BURST": "100000"},
    )
    try:
        deployment.migrate()
        deployment.create_user(WORKER, "technical_worker", PASSWORD)
        deployment.start_all()
        results = asyncio.run(measure(deployment, args.rate, args.seconds, args.warmup))
    finally:
        deployment.stop_all()
        deployment.drop_stores()
        with engine.begin() as connection:
            for name in made:
                connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print("| route | rate | direct p50 / p99 (ms) | gateway p50 / p99 (ms) | added p50 / p99 (ms) |")
    print("|---|---|---|---|---|")
    for row in results:
        direct, through = row["direct"], row["gateway"]
        print(
            f"| {row['route']} | {row['rate_per_s']:.0f}/s | {direct['p50_ms']:.2f} / {direct['p99_ms']:.2f} "
            f"| {through['p50_ms']:.2f} / {through['p99_ms']:.2f} "
            f"| {row['added_p50_ms']:.2f} / {row['added_p99_ms']:.2f} |"
        )


if __name__ == "__main__":
    main()
