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
    url = f"{pipeline.writer_url}/sales"
    maximum = measure.max_rates(ctx, row, "sales-writer", url, http.STAFF, payloads)
    ctx.shared["writer_max"] = maximum
    measure.latency_curve(ctx, row, "sales-writer", url, http.STAFF, payloads, maximum)
    row.note = (
        f"{WRITER_WORKERS} server process(es), relay and projector running, as in production;"
        " latency from the scheduled start"
    )
    return row
