"""Prometheus metrics of the projection."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "projector_events_total",
    "Events handled, by outcome: applied, stale (skipped by version), dead_lettered, parked.",
    ["outcome"],
)
BATCH_SIZE = Histogram(
    "projector_batch_size", "Records per consumed batch.", buckets=(1, 10, 50, 100, 250, 500, 1000, 2000)
)
APPLY_SECONDS = Histogram(
    "projector_apply_seconds",
    "Time to apply one batch to MongoDB.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ROLLUP_FLUSH_SECONDS = Histogram(
    "projector_rollup_flush_seconds",
    "Time to add the deltas of the batches applied since the last flush to the rollups' buckets.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
END_TO_END_SECONDS = Histogram(
    "projector_end_to_end_lag_seconds",
    "From the sale's commit in MySQL (occurred_at) until its batch's sales are written to the copy.",
    # Fine below a quarter of a second, where a live copy should stay, so that percentiles read from
    # the buckets are within a few milliseconds there.
    buckets=(
        *(0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25),
        *(0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
    ),
)
CONSUMER_LAG = Gauge("projector_consumer_lag", "High-water offset minus position, per partition.", ["partition"])
RETRIES = Counter("projector_batch_retries_total", "Batches retried after a transient store or broker error.")
QUARANTINED = Gauge(
    "projector_quarantined_sales",
    "Sales in quarantine (their events parked until a repair), as counted by the consumer every few seconds.",
)
