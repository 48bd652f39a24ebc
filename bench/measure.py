"""The measurements that several rows share: maximum create rate at fixed concurrencies (closed loop), and
latency at fractions of a maximum (open loop)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import uvloop

from bench import data, http
from bench.context import Context
from bench.loadgen import AsyncOp, LoopResult, closed_loop, open_loop
from bench.model import LatencyPoint, Row

BODIES = 4_000


def bodies(dated: datetime | None = None) -> list[bytes]:
    """The sales the rows create: dated over five years, or all at `dated`."""
    return data.encoded_bodies(BODIES, seed=41, dated=dated)


def run_async(factory: Callable[[], Awaitable[LoopResult]]) -> LoopResult:
    return uvloop.run(factory())


async def with_creator(
    url: str, headers: dict[str, str], payloads: list[bytes], body: Callable[[AsyncOp], Awaitable[LoopResult]]
) -> LoopResult:
    async with http.client() as client:
        creator = http.Creator(client, url, payloads, headers)
        await creator(0)
        return await body(creator)


@dataclass(frozen=True)
class Target:
    """One way to create a sale over HTTP. `prefix` starts the keys of its figures in the row, so that
    two targets measured side by side keep their numbers apart (`creates_c16`, `direct_creates_c16`);
    `prepare` runs before each of its measurements (puts the pipeline in the state it is measured in);
    `headers` may be a function, called for each measurement (a token that must stay valid)."""

    name: str
    url: str
    headers: dict[str, str] | Callable[[], dict[str, str]]
    prefix: str = ""
    prepare: Callable[[], None] | None = None


def max_rates(ctx: Context, row: Row, targets: Sequence[Target], payloads: list[bytes]) -> dict[str, float]:
    """Creates/s at each concurrency of the profile, the targets taking turns (so that they are compared
    under the same conditions of the machine). Returns each target's best median (its measured maximum)."""
    profile = ctx.profile
    turns = itertools.count()
    for rep in range(profile.reps_service):
        for concurrency in profile.concurrency_http:
            for target in _rotated(targets, next(turns)):
                result = _measure(
                    ctx,
                    target,
                    payloads,
                    f"row {row.id}: {target.name}, concurrency {concurrency}, rep {rep + 1}/{profile.reps_service}",
                    lambda op, c=concurrency: closed_loop(op, c, profile.duration_s, profile.warmup_s),
                )
                if result.completed == 0:
                    raise RuntimeError(f"{target.name}: nothing completed ({result.first_error})")
                label = _label(target, f"concurrency {concurrency}")
                row.figure(f"{target.prefix}creates_c{concurrency}", f"creates/s, {label}", "creates/s").samples.append(
                    result.rate
                )
                row.figure(f"{target.prefix}errors_c{concurrency}", f"errors, {label}", "count", False).samples.append(
                    result.errors
                )
    return {
        target.name: max(
            row.get(f"{target.prefix}creates_c{c}").spread.median  # type: ignore[union-attr]
            for c in profile.concurrency_http
        )
        for target in targets
    }


def latency_curve(
    ctx: Context,
    row: Row,
    targets: Sequence[Target],
    payloads: list[bytes],
    maximum: float,
    more_at: Mapping[float, int] | None = None,
) -> None:
    """Open loop at each fraction of `maximum`, the targets taking turns at each rate; p50/p99/p999
    from the scheduled start. `more_at`: fractions measured that many times the profile's repetitions
    (the point a verdict reads, where one more measurement costs less than a verdict decided by noise)."""
    profile = ctx.profile
    rates = [(fraction, maximum * fraction) for fraction in profile.fractions]
    curves = {target.name: [LatencyPoint(fraction, rate) for fraction, rate in rates] for target in targets}
    reps = [profile.reps_service * (more_at or {}).get(fraction, 1) for fraction in profile.fractions]
    turns = itertools.count()
    for rep in range(max(reps)):
        for index in (i for i, wanted in enumerate(reps) if rep < wanted):
            for target in _rotated(targets, next(turns)):
                point = curves[target.name][index]
                result = _measure(
                    ctx,
                    target,
                    payloads,
                    f"row {row.id}: {target.name} at {point.offered_per_s:.0f}/s ({point.fraction:.0%}), rep {rep + 1}",
                    lambda op, p=point: open_loop(op, p.offered_per_s, profile.duration_s),
                )
                point.record(result.rate, result.errors, result.latencies.summary_ms())
    for target in targets:
        for point in curves[target.name]:
            key, label = f"{round(point.fraction * 100)}", _label(target, f"at {point.fraction:.0%} of max")
            row.figure(f"{target.prefix}p50_at_{key}", f"p50 {label}", "ms", False).samples.extend(point.p50_ms)
            row.figure(f"{target.prefix}p99_at_{key}", f"p99 {label}", "ms", False).samples.extend(point.p99_ms)
        row.curves[target.name] = curves[target.name]


def _rotated(targets: Sequence[Target], turn: int) -> list[Target]:
    """The targets in the order of one turn: each turn starts with the next one, so that each follows
    every other alike (what a measurement leaves behind, a catching-up projector or spans still being
    exported, falls on each target in turn, not always on the first)."""
    start = turn % len(targets) if targets else 0
    return [*targets[start:], *targets[:start]]


def _measure(
    ctx: Context,
    target: Target,
    payloads: list[bytes],
    step: str,
    loop: Callable[[AsyncOp], Awaitable[LoopResult]],
) -> LoopResult:
    """One measurement of one target: its preparation, then `loop` driving its creates."""
    if target.prepare is not None:
        target.prepare()
    ctx.step(step)
    headers = target.headers() if callable(target.headers) else target.headers
    return run_async(lambda: with_creator(target.url, headers, payloads, loop))


def _label(target: Target, what: str) -> str:
    """A figure's label; a target measured beside the row's own is named in it."""
    return f"{what} ({target.name})" if target.prefix else what


def run_sync(coro: Awaitable[object]) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]
