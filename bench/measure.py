"""The measurements that several rows share: maximum create rate at fixed concurrencies (closed loop), and
latency at fractions of a maximum (open loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import uvloop

from bench import data, http
from bench.context import Context
from bench.loadgen import AsyncOp, LoopResult, closed_loop, open_loop
from bench.model import LatencyPoint, Row

BODIES = 4_000


def bodies() -> list[bytes]:
    return data.encoded_bodies(BODIES, seed=41)


def run_async(factory: Callable[[], Awaitable[LoopResult]]) -> LoopResult:
    return uvloop.run(factory())


async def _with_creator(
    url: str, headers: dict[str, str], payloads: list[bytes], body: Callable[[AsyncOp], Awaitable[LoopResult]]
) -> LoopResult:
    async with http.session() as client:
        creator = http.Creator(client, url, payloads, headers)
        await creator(0)
        return await body(creator)


def max_rates(ctx: Context, row: Row, name: str, url: str, headers: dict[str, str], payloads: list[bytes]) -> float:
    """Creates/s at each concurrency of the profile; returns the best median (the measured maximum)."""
    profile = ctx.profile
    for rep in range(profile.reps_service):
        for concurrency in profile.concurrency_http:
            ctx.step(f"row {row.id}: {name}, concurrency {concurrency}, rep {rep + 1}/{profile.reps_service}")
            result = run_async(
                lambda c=concurrency: _with_creator(
                    url, headers, payloads, lambda op: closed_loop(op, c, profile.duration_s, profile.warmup_s)
                )
            )
            if result.completed == 0:
                raise RuntimeError(f"{name}: nothing completed ({result.first_error})")
            row.figure(f"creates_c{concurrency}", f"creates/s, concurrency {concurrency}", "creates/s").samples.append(
                result.rate
            )
            row.figure(f"errors_c{concurrency}", f"errors, concurrency {concurrency}", "count", False).samples.append(
                result.errors
            )
    best = max(
        (row.get(f"creates_c{c}").spread.median for c in profile.concurrency_http),  # type: ignore[union-attr]
    )
    return best


def latency_curve(
    ctx: Context, row: Row, name: str, url: str, headers: dict[str, str], payloads: list[bytes], maximum: float
) -> list[LatencyPoint]:
    """Open loop at each fraction of `maximum`; p50/p99/p999 from the scheduled start."""
    profile = ctx.profile
    points = [LatencyPoint(fraction, maximum * fraction) for fraction in profile.fractions]
    for rep in range(profile.reps_service):
        for point in points:
            ctx.step(f"row {row.id}: {name} at {point.offered_per_s:.0f}/s ({point.fraction:.0%}), rep {rep + 1}")
            result = run_async(
                lambda p=point: _with_creator(
                    url, headers, payloads, lambda op: open_loop(op, p.offered_per_s, profile.duration_s)
                )
            )
            point.record(result.rate, result.errors, result.latencies.summary_ms())
    for point in points:
        key = f"{round(point.fraction * 100)}"
        row.figure(f"p50_at_{key}", f"p50 at {point.fraction:.0%} of max", "ms", False).samples.extend(point.p50_ms)
        row.figure(f"p99_at_{key}", f"p99 at {point.fraction:.0%} of max", "ms", False).samples.extend(point.p99_ms)
    row.curves[name] = points
    return points


def run_sync(coro: Awaitable[object]) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]
