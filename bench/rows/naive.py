"""Row 7: the naive dual write (bench/naive_dual_write.py) at the sales-writer's rates, and both it and our
pipeline under the same 5 s MongoDB outage: how many sales end up missing or different in the copy."""

from __future__ import annotations

from bench import fault, measure
from bench.context import Context
from bench.model import Row
from bench.pipeline import Pipeline
from bench.schema import sales_database
from bench.services import NAIVE_PORT, ServiceProcess, commands_of


def start_naive(ctx: Context, suffix: str) -> tuple[ServiceProcess, str, str]:
    sales_db = sales_database(ctx, suffix)
    mongo_db = ctx.mongo_database(suffix)
    process = ctx.service(
        f"naive-{suffix}",
        ("python", "-m", "bench.naive_dual_write"),
        port=NAIVE_PORT,
        mysql_database=sales_db,
        mongo_database=mongo_db,
    )
    process.start(ctx.sampler, "naive dual write").wait_ready()
    return process, sales_db, mongo_db


def run(ctx: Context) -> Row:
    row = Row("7", "Naive dual write vs our pipeline (5 s MongoDB stop)")
    payloads = measure.bodies()
    url = f"http://127.0.0.1:{NAIVE_PORT}/sales"
    process, sales_db, mongo_db = start_naive(ctx, "naive")
    try:
        target = measure.Target("naive dual write", url, {})
        maximum = measure.max_rates(ctx, row, [target], payloads)[target.name]
        reference = ctx.shared.get("pipeline_max") or maximum
        measure.latency_curve(ctx, row, [target], payloads, reference)
        rate = 0.5 * reference
        ctx.step("row 7: naive dual write under a MongoDB outage")
        result = fault.load_with_outage(ctx, url, {}, payloads, rate)
    finally:
        process.stop()
    found, _ = fault.wait_converged(ctx, sales_db, mongo_db, timeout_s=5.0)
    row.figure("diverged_naive", "naive: sales missing or different in MongoDB", "sales", False).samples.append(
        found.total
    )
    row.figure("failed_naive", "naive: requests that failed during the run", "requests", False).samples.append(
        result.errors
    )
    notes = [
        f"outage run: {ctx.profile.fault_run_s:.0f} s at {rate:.0f}/s, FerretDB stopped for"
        f" {ctx.profile.fault_down_s:.0f} s after {ctx.profile.fault_at_s:.0f} s",
        f"naive: {found.in_mysql} in MySQL, {found.in_mongo} in MongoDB, {found.missing} missing,"
        f" {found.different} different, {found.extra} extra",
    ]

    if {"serve", "migrate"} <= commands_of("sales-writer") and "consume" in commands_of("mongo-projector"):
        ctx.step("row 7: our pipeline under the same outage")
        pipeline = Pipeline.shared(ctx, "fault")
        try:
            result = fault.load_with_outage(ctx, f"{pipeline.writer_url}/sales", pipeline.worker(), payloads, rate)
            ctx.step("row 7: waiting for the copy to converge")
            found, waited = fault.wait_converged(
                ctx, pipeline.sales_db, pipeline.mongo_db, ctx.profile.converge_timeout_s
            )
        finally:
            pipeline.stop()
        row.figure("diverged_pipeline", "ours: sales missing or different in MongoDB", "sales", False).samples.append(
            found.total
        )
        row.figure("failed_pipeline", "ours: requests that failed during the run", "requests", False).samples.append(
            result.errors
        )
        row.figure("converge_s", "ours: time to converge after the load", "s", False).samples.append(waited)
        notes.append(
            f"ours: {found.in_mysql} in MySQL, {found.in_mongo} in MongoDB, {found.missing} missing,"
            f" {found.different} different, converged {waited:.1f} s after the load"
        )
    else:
        notes.append("ours: n/a (service missing)")
    row.note = "; ".join(notes)
    return row
