"""Row 11: POST /api/sales through the gateway with tracing off, then on (every process exporting its
spans over OTLP/HTTP to a receiver the row runs), each measured on a pipeline of its own: creates/s at
each concurrency and latency at fractions of the untraced maximum."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from bench import measure
from bench.context import Context
from bench.identity import start_auth, start_gateway
from bench.model import Row
from bench.pipeline import Pipeline
from supply_common.testing.otlp import OtlpReceiver

ROW_ID = "11"
TITLE = "Tracing: POST /api/sales with traces exported vs off"


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Values the processes started inside take from the environment (`Context.service_env`)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run(ctx: Context) -> Row:
    row = Row(ROW_ID, TITLE)
    for other in ctx.shared.pop("pipelines", {}).values():  # they hold the ports the phases use
        other.stop()
    accounts = start_auth(ctx)
    payloads = measure.bodies()
    maxima: dict[str, float] = {}
    with OtlpReceiver() as receiver:
        for suffix, prefix, env in (
            ("untraced", "", {}),
            ("traced", "traced_", {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}),
        ):
            with _environment(**env):
                pipeline = Pipeline.start(ctx, suffix)
                gateway = start_gateway(ctx, accounts, pipeline.writer_url)
            try:
                target = measure.Target(
                    suffix, f"{gateway.url}/api/sales", accounts.bearer, prefix=prefix, prepare=pipeline.alone
                )
                maxima.update(measure.max_rates(ctx, row, [target], payloads))
                measure.latency_curve(ctx, row, [target], payloads, maxima["untraced"])
            finally:
                gateway.stop()
                pipeline.stop()
        spans = len(receiver.snapshot())
    row.figure("spans_received", "spans received while traced", "spans").samples.append(spans)
    ratio = maxima["traced"] / maxima["untraced"] if maxima["untraced"] else 0.0
    untraced_p50, traced_p50 = row.get("p50_at_50"), row.get("traced_p50_at_50")
    added = (
        traced_p50.spread.median - untraced_p50.spread.median
        if untraced_p50 and traced_p50 and untraced_p50.spread and traced_p50.spread
        else None
    )
    if added is None:
        verdict = f"traced max {ratio:.2f}x of untraced; p50 not measured"
    else:
        meets = "meets" if ratio >= 0.9 and added <= 1.0 else "misses"
        verdict = (
            f"{meets} the target (>= 0.9x, <= +1 ms): traced max {ratio:.2f}x of untraced, p50 at 50% {added:+.2f} ms"
        )
    row.note = (
        f"{verdict}; through the gateway, the relay and the projector consumer each in its own process, all"
        " exporting to an OTLP/HTTP receiver in the bench's process; the two phases run one after the other on"
        " pipelines of their own (projector paused while measured), latency at fractions of the untraced maximum"
    )
    return row
