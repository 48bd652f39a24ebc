"""Percentiles from an HDR histogram or from a Prometheus histogram's buckets, and the median and spread
of repeated measurements."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 120_000_000
SIGNIFICANT_DIGITS = 3


class Latencies:
    """Latencies recorded in microseconds, reported in milliseconds."""

    def __init__(self) -> None:
        self.histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)

    def record_s(self, seconds: float) -> None:
        self.histogram.record_value(min(HIGHEST_US, max(LOWEST_US, round(seconds * 1_000_000))))

    @property
    def count(self) -> int:
        return self.histogram.get_total_count()

    def percentile_ms(self, percentile: float) -> float:
        return self.histogram.get_value_at_percentile(percentile) / 1000

    def max_ms(self) -> float:
        return self.histogram.get_max_value() / 1000

    def summary_ms(self) -> dict[str, float]:
        if not self.count:
            return {}
        return {
            "p50": self.percentile_ms(50),
            "p99": self.percentile_ms(99),
            "p999": self.percentile_ms(99.9),
            "max": self.max_ms(),
        }


@dataclass(frozen=True)
class Buckets:
    """A Prometheus histogram's cumulative bucket counts (upper bound in seconds -> observations at or
    below it, `inf` last). Two scrapes subtracted give what was observed between them."""

    cumulative: dict[float, float]

    def __sub__(self, earlier: Buckets) -> Buckets:
        return Buckets({bound: count - earlier.cumulative.get(bound, 0.0) for bound, count in self.cumulative.items()})

    @property
    def count(self) -> float:
        return max(self.cumulative.values(), default=0.0)

    def quantile_s(self, q: float) -> float:
        """As Prometheus's `histogram_quantile`: linear within the bucket the rank falls in; in the
        open-ended last bucket, that bucket's lower bound."""
        rank = q * self.count
        lower, below = 0.0, 0.0
        for bound, count in sorted(self.cumulative.items()):
            if count >= rank and count > below:
                if bound == float("inf"):
                    return lower
                return lower + (bound - lower) * (rank - below) / (count - below)
            lower, below = bound, count
        return lower

    def max_bound_s(self) -> float:
        """The upper bound of the highest bucket with an observation (the maximum is at most this)."""
        total = self.count
        return min((bound for bound, count in self.cumulative.items() if count >= total), default=0.0)

    def summary_ms(self) -> dict[str, float]:
        if not self.count:
            return {}
        return {
            "p50": self.quantile_s(0.5) * 1000,
            "p99": self.quantile_s(0.99) * 1000,
            "p999": self.quantile_s(0.999) * 1000,
            "max": self.max_bound_s() * 1000,
        }


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    q1: float
    q3: float
    n: int

    @classmethod
    def of(cls, samples: list[float]) -> Spread | None:
        if not samples:
            return None
        ordered = sorted(samples)
        if len(ordered) >= 4:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        else:
            q1, q3 = ordered[0], ordered[-1]
        return cls(statistics.median(ordered), ordered[0], ordered[-1], q1, q3, len(ordered))
