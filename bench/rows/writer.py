"""Row 2: the sales-writer's POST /sales called directly (with a worker's access token, as the gateway forwards it)."""

from __future__ import annotations

from bench import measure
from bench.context import Context
from bench.model import Row
from bench.pipeline import WRITER_WORKERS, Pipeline


def run(ctx: Context) -> Row:
    row = Row("2", "sales-writer direct: POST /sales")
    pipeline = Pipeline.shared(ctx, "writer")
    payloads = measure.bodies()
    url = f"{pipeline.writer_url}/sales"
    alone = measure.Target("sales-writer", url, pipeline.worker, prepare=pipeline.alone)
    whole = measure.Target("whole pipeline", url, pipeline.worker, prefix="pipeline_", prepare=pipeline.settle)
    maxima = measure.max_rates(ctx, row, [alone, whole], payloads)
    ctx.shared["writer_max"] = maxima[alone.name]
    ctx.shared["pipeline_max"] = maxima[whole.name]
    measure.latency_curve(ctx, row, [alone], payloads, maxima[alone.name])
    row.note = (
        f"{WRITER_WORKERS} server process(es) and the relay publishing to Kafka; the projector paused"
        " (SIGSTOP) so that only the sales-writer's work is measured, in turn with the whole pipeline"
        " (pipeline_*: projector and FerretDB applying the events on the same cores); each measurement"
        " starts with the outbox published and the projector caught up; latency from the scheduled start"
    )
    return row
