"""Row 2: the sales-writer's POST /sales called directly (identity headers as the gateway sends them)."""

from __future__ import annotations

from bench import http, measure
from bench.context import Context
from bench.model import Row
from bench.pipeline import WRITER_WORKERS, Pipeline


def run(ctx: Context) -> Row:
    row = Row("2", "sales-writer direct: POST /sales")
    pipeline = Pipeline.shared(ctx, "writer")
    payloads = measure.bodies()
    target = measure.Target("sales-writer", f"{pipeline.writer_url}/sales", http.STAFF)
    maximum = measure.max_rates(ctx, row, [target], payloads, settle=pipeline.settle)[target.name]
    ctx.shared["writer_max"] = maximum
    measure.latency_curve(ctx, row, [target], payloads, maximum, settle=pipeline.settle)
    row.note = (
        f"{WRITER_WORKERS} server process(es), relay and projector running, as in production; each measurement"
        " starts with the outbox published and the projector caught up; latency from the scheduled start"
    )
    return row
