"""The ratios the issue asks for, computed from the medians of one run, with the issue's targets beside them."""

from __future__ import annotations

from dataclasses import dataclass

from bench.model import Ratio, Run


@dataclass(frozen=True)
class RatioSpec:
    label: str
    numerator: str
    denominator: str
    target: float | None
    at_least: bool = True
    difference: bool = False
    unit: str = "x"


SPECS = (
    RatioSpec("sales-writer / raw MySQL, concurrency 16", "2:creates_c16", "1:tx_c16", 0.6),
    RatioSpec("sales-writer / raw MySQL, concurrency 1", "2:creates_c1", "1:tx_c1", None),
    RatioSpec("gateway / sales-writer, concurrency 16", "3:creates_c16", "3:direct_creates_c16", 0.7),
    RatioSpec("gateway / sales-writer, concurrency 64", "3:creates_c64", "3:direct_creates_c64", 0.7),
    RatioSpec("gateway added p50 at 50% load", "3:p50_at_50", "3:direct_p50_at_50", 1.5, False, True, "ms"),
    RatioSpec("tracing on / off, concurrency 16", "11:traced_creates_c16", "11:creates_c16", 0.9),
    RatioSpec("tracing added p50 at 50% load", "11:traced_p50_at_50", "11:p50_at_50", 1.0, False, True, "ms"),
    RatioSpec("tracing, one trace in ten / off, concurrency 16", "11:ratio_creates_c16", "11:creates_c16", None),
    RatioSpec(
        "tracing, one in ten, added p50 at 50% load", "11:ratio_p50_at_50", "11:p50_at_50", None, False, True, "ms"
    ),
    RatioSpec("tracing always-on / off, concurrency 16", "11:always_creates_c16", "11:creates_c16", None),
    RatioSpec(
        "tracing always-on added p50 at 50% load", "11:always_p50_at_50", "11:p50_at_50", None, False, True, "ms"
    ),
    RatioSpec("relay drain / raw produce", "4:drain_s", "4b:msgs_s", 0.8),
    RatioSpec("projector (1 consumer) / raw bulk upsert", "5:events_s_1", "5b:upsert_s", 0.8),
    RatioSpec("projector (1 consumer) / raw bulk insert", "5:events_s_1", "5b:insert_s", None),
    RatioSpec("projector 3 consumers / 1 consumer", "5:events_s_3", "5:events_s_1", 2.0),
    RatioSpec("commit-to-visible p99 at 50% of max", "6:p99_at_50", "", 50.0, False, False, "ms"),
    RatioSpec("pipeline / naive dual write, max creates/s", "2:pipeline_creates_c16", "7:creates_c16", 0.9),
    RatioSpec("divergence after a 5 s MongoDB stop: ours", "7:diverged_pipeline", "", 0.0, False, False, "sales"),
    RatioSpec("divergence after a 5 s MongoDB stop: naive", "7:diverged_naive", "", None, False, False, "sales"),
    RatioSpec("largest service peak RSS", "9:max_rss", "", 150.0, False, False, "MB"),
    # Row 10's "fast" routes: a sale by id, a customer's sales, equality filters, first pages, analytics.
    RatioSpec("reads: slowest fast-route p95 at 100,000", "10:fast_worst_p95_100000", "", 50.0, False, False, "ms"),
    RatioSpec("reads: slowest fast-route p95 at 1,000,000", "10:fast_worst_p95_1000000", "", 100.0, False, False, "ms"),
    RatioSpec("reads: largest fast-route growth to 1,000,000", "10:fast_worst_growth_1000000", "", 3.0, False),
    RatioSpec("reads: slowest range filter p95 at 100,000", "10:range_worst_p95_100000", "", 200.0, False, False, "ms"),
    RatioSpec(
        "reads: slowest role's page p95 at 1,000,000", "10:page_worst_p95_1000000", "", 300.0, False, False, "ms"
    ),
)


def compute(run: Run) -> list[Ratio]:
    ratios = []
    for spec in SPECS:
        target = "" if spec.target is None else f"{'>=' if spec.at_least else '<='} {spec.target:g} {spec.unit}"
        ratio = Ratio(spec.label, spec.numerator, spec.denominator, target=target.strip(), unit=spec.unit)
        top = run.lookup(spec.numerator)
        bottom = run.lookup(spec.denominator) if spec.denominator else None
        top_spread = top.spread if top else None
        bottom_spread = bottom.spread if bottom else None
        if top_spread is None or (spec.denominator and bottom_spread is None):
            ratios.append(ratio)
            continue
        if bottom_spread is None:
            ratio.value, ratio.low, ratio.high = top_spread.median, top_spread.low, top_spread.high
        elif spec.difference:
            ratio.value = top_spread.median - bottom_spread.median
            ratio.low = top_spread.low - bottom_spread.high
            ratio.high = top_spread.high - bottom_spread.low
        elif bottom_spread.median > 0:
            ratio.value = top_spread.median / bottom_spread.median
            ratio.low = top_spread.low / bottom_spread.high if bottom_spread.high else None
            ratio.high = top_spread.high / bottom_spread.low if bottom_spread.low else None
        if spec.target is not None and ratio.value is not None:
            ratio.meets = ratio.value >= spec.target if spec.at_least else ratio.value <= spec.target
        ratios.append(ratio)
    return ratios
