"""Row 6: commit-to-visible latency in MongoDB at fractions of the end-to-end maximum write rate.

Per sale, from its commit in MySQL (`occurred_at`, the sales-writer's clock) until the projector's
write of its batch has returned (the projector's clock, the same machine): the projector observes
this into its `projector_end_to_end_lag_seconds` histogram, and the bench reads the buckets before
and after each phase. Percentiles are interpolated within a bucket, as Prometheus does (buckets of 5
to 25 ms below a quarter of a second); the maximum is the bound of the highest bucket reached. Every
sale written is also looked up in the copy afterwards: the ones not there count as missing.

Beside it, the first stage alone: from the commit until the broker acknowledged the event, from the
relay's `sales_writer_publish_latency_seconds` histogram, read the same way.
"""

from __future__ import annotations

import time
import urllib.request
from datetime import UTC, datetime

import uvloop
from bson import ObjectId
from prometheus_client.parser import text_string_to_metric_families

from bench import http, measure
from bench.context import Context
from bench.loadgen import closed_loop, open_loop
from bench.model import LatencyPoint, Row
from bench.pipeline import Pipeline
from bench.stats import Buckets

LAG_HISTOGRAM = "projector_end_to_end_lag_seconds"
PUBLISH_HISTOGRAM = "sales_writer_publish_latency_seconds"


def _visible(ctx: Context, mongo_db: str, ids: list[str], timeout_s: float) -> int:
    """How many of these sales the copy holds, waiting up to `timeout_s` for all of them."""
    wanted = [ObjectId(sale_id) for sale_id in ids]
    deadline = time.monotonic() + timeout_s
    with ctx.stack.mongo() as client:
        collection = client[mongo_db]["sales"]
        while True:
            found = len(list(collection.find({"_id": {"$in": wanted}}, {"_id": 1})))
            if found >= len(wanted) or time.monotonic() > deadline:
                return found
            time.sleep(0.5)


def histogram(url: str, name: str) -> Buckets:
    """A histogram of a Prometheus endpoint as it stands."""
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    cumulative: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == name:
            for sample in family.samples:
                if sample.name == f"{name}_bucket":
                    cumulative[float(sample.labels["le"])] = sample.value
    if not cumulative:
        raise RuntimeError(f"{url} has no {name}")
    return Buckets(cumulative)


def stages(pipeline: Pipeline) -> tuple[Buckets, Buckets]:
    """(commit to published, commit to written) as they stand."""
    return (
        histogram(pipeline.relay_metrics_url, PUBLISH_HISTOGRAM),
        histogram(pipeline.projector_metrics_url, LAG_HISTOGRAM),
    )


def applied_events(url: str) -> float:
    """The projector's count of events applied to the copy, as it stands."""
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "projector_events_total" and sample.labels.get("outcome") == "applied":
                return sample.value
    return 0.0


def end_to_end_max(ctx: Context, row: Row, pipeline: Pipeline, url: str, payloads: list[bytes]) -> float:
    """Sales per second that reach MongoDB: a closed loop at the highest concurrency of the profile,
    timed from its start until the projector has applied the last sale it wrote. For a few seconds
    the sales-writer alone runs faster than the copy can follow; this is the rate the whole pipeline
    sustains over the run and its catch-up. Beside it, the rate the copy applied while the writes
    went on: when the projector is the slower stage, its catch-up has the machine to itself, and
    that rate is the one it can keep up with."""
    concurrency = max(ctx.profile.concurrency_http)
    figure = row.figure("end_to_end_max", "end-to-end maximum (written and applied)", "sales/s")
    meanwhile = row.figure("applied_while_writing", "applied to the copy while the writes went on", "sales/s")
    pipeline.settle()  # each repetition ends settled: the next one, and the phases after, start idle
    for rep in range(ctx.profile.reps_service):
        ctx.step(f"row 6: end-to-end maximum, concurrency {concurrency}, rep {rep + 1}")
        applied_before = applied_events(pipeline.projector_metrics_url)
        started = time.monotonic()

        async def load() -> int:
            async with http.client() as client:
                creator = http.Creator(client, url, payloads, pipeline.worker())
                creator.keep = True
                await closed_loop(creator, concurrency, ctx.profile.duration_s)
                return len(creator.created)

        created = uvloop.run(load())
        writing_s = time.monotonic() - started
        meanwhile.samples.append((applied_events(pipeline.projector_metrics_url) - applied_before) / writing_s)
        pipeline.settle()
        figure.samples.append(created / (time.monotonic() - started))
    spread = figure.spread
    assert spread is not None
    return spread.median


def _percentile_figures(row: Row, points: list[LatencyPoint], key_prefix: str, label_prefix: str) -> None:
    for point in points:
        key = f"{round(point.fraction * 100)}"
        label = f"at {point.fraction:.0%} of max"
        for name, samples in (("p50", point.p50_ms), ("p99", point.p99_ms), ("max", point.max_ms)):
            figure = row.figure(f"{key_prefix}{name}_at_{key}", f"{label_prefix}{name} {label}", "ms", False)
            figure.samples.extend(samples)


def _phase(
    ctx: Context, pipeline: Pipeline, url: str, payloads: list[bytes], point: LatencyPoint, first: LatencyPoint
) -> int:
    """Writes at the point's rate for the profile's duration; records commit to visible and commit to
    published into the two points; returns how many of the sales written the copy does not hold."""

    async def phase() -> object:
        async with http.client() as client:
            creator = http.Creator(client, url, payloads, pipeline.worker())
            creator.keep = True
            result = await open_loop(creator, point.offered_per_s, ctx.profile.duration_s)
            result.created = creator.created  # type: ignore[attr-defined]
            return result

    sent_before, written_before = stages(pipeline)
    result = measure.run_async(phase)  # type: ignore[arg-type]
    pipeline.settle()  # every batch of the phase published, written and observed
    sent_after, written_after = stages(pipeline)
    # Only then the copy is read back: a find of every sale of the phase keeps FerretDB busy decoding
    # thousands of documents, which the phase's last sales, the ones its p99 is made of, would wait on.
    ids = [sale_id for sale_id, _ in result.created]  # type: ignore[attr-defined]
    missing = len(ids) - _visible(ctx, pipeline.mongo_db, ids, ctx.profile.converge_timeout_s)
    point.record(result.rate, result.errors, (written_after - written_before).summary_ms())
    first.record(result.rate, result.errors, (sent_after - sent_before).summary_ms())
    return missing


def run(ctx: Context) -> Row:
    row = Row("6", "Freshness: commit to visible in MongoDB")
    pipeline = Pipeline.shared(ctx, "fresh")
    url = f"{pipeline.writer_url}/sales"
    # Sales made now are dated now: a batch of them adds to one day's and one month's rollups. Sales
    # dated over five years (the dataset's spread: a backlog of old receipts typed in) touch a month
    # document and a days document for each month they fall in; measured apart at half load.
    payloads = measure.bodies(dated=datetime.now(UTC))
    maximum = end_to_end_max(ctx, row, pipeline, url, payloads)
    points = [LatencyPoint(fraction, maximum * fraction) for fraction in ctx.profile.fractions]
    published = [LatencyPoint(fraction, maximum * fraction) for fraction in ctx.profile.fractions]
    spread = [LatencyPoint(0.5, maximum * 0.5)]
    spread_published = [LatencyPoint(0.5, maximum * 0.5)]
    spread_payloads = measure.bodies()
    missing = 0
    for rep in range(ctx.profile.reps_service):
        for point, first_stage in zip(points, published, strict=True):
            ctx.step(f"row 6: writes at {point.offered_per_s:.0f}/s ({point.fraction:.0%}), rep {rep + 1}")
            missing += _phase(ctx, pipeline, url, payloads, point, first_stage)
        ctx.step(f"row 6: writes dated over five years at {spread[0].offered_per_s:.0f}/s (50%), rep {rep + 1}")
        missing += _phase(ctx, pipeline, url, spread_payloads, spread[0], spread_published[0])
    _percentile_figures(row, points, "", "")
    _percentile_figures(row, published, "published_", "commit to published ")
    _percentile_figures(row, spread, "spread_", "sales dated over five years: ")
    row.curves["commit to visible"] = points
    row.curves["commit to published (relay)"] = published
    row.curves["commit to visible, sales dated over five years"] = spread
    row.curve_unit = "sales/s"
    row.note = (
        f"end-to-end maximum {maximum:.0f} sales/s (written and applied to the copy); sales dated when made,"
        f" and apart at half load sales dated over five years; latency from commit until the projector's write"
        f" returned, and until the broker acknowledged it (their histograms); not visible within the timeout:"
        f" {missing}"
    )
    return row
