"""Row 3: POST /api/sales through the gateway with a real access token."""

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
        headers = {"Authorization": f"Bearer {accounts.token()}"}
        payloads = measure.bodies()
        url = gateway.url("/api/sales")
        maximum = measure.max_rates(ctx, row, "gateway", url, headers, payloads)
        reference = ctx.shared.get("writer_max") or maximum
        measure.latency_curve(ctx, row, "gateway", url, headers, payloads, reference)
        row.note = "token verified on every request; per-user rate limit lifted; latency at the sales-writer's rates"
    finally:
        if gateway is not None:
            gateway.stop()
    return row
