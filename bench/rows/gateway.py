"""Row 3: POST /api/sales through the gateway with a real access token, taking turns with POST /sales on the
sales-writer directly, so that the ratio and the added latency come from measurements made side by side."""

from __future__ import annotations

from bench import measure
from bench.context import Context
from bench.identity import start_auth, start_gateway
from bench.model import Row
from bench.pipeline import Pipeline


def run(ctx: Context) -> Row:
    row = Row("3", "Through the gateway: POST /api/sales with a token")
    accounts = start_auth(ctx)
    pipeline = Pipeline.shared(ctx, "writer")
    gateway = None
    try:
        gateway = start_gateway(ctx, accounts, pipeline.writer_url)
        payloads = measure.bodies()
        through = measure.Target("gateway", f"{gateway.url}/api/sales", accounts.bearer, prepare=pipeline.alone)
        direct = measure.Target(
            "sales-writer", f"{pipeline.writer_url}/sales", accounts.bearer, prefix="direct_", prepare=pipeline.alone
        )
        targets = [direct, through]
        maxima = measure.max_rates(ctx, row, targets, payloads)
        measure.latency_curve(ctx, row, targets, payloads, maxima[through.name])
        row.note = (
            "token verified on every request; per-user rate limit lifted; each measurement taken in turn with the"
            " same one on the sales-writer directly (direct_*), in the conditions of row 2 (projector paused);"
            " latency of both at fractions of the gateway's own maximum"
        )
    finally:
        if gateway is not None:
            gateway.stop()
    return row
