"""Percentiles read from a Prometheus histogram's buckets, as the freshness row reads the projector's."""

from __future__ import annotations

import math

import pytest

from bench.stats import Buckets

INF = math.inf


def test_a_quantile_is_interpolated_within_its_bucket() -> None:
    # 10 observations at or below 10 ms, 90 more up to 20 ms, none above.
    buckets = Buckets({0.01: 10, 0.02: 100, 0.05: 100, INF: 100})
    assert buckets.quantile_s(0.5) == pytest.approx(0.01 + 0.01 * (50 - 10) / 90)
    assert buckets.quantile_s(0.99) == pytest.approx(0.01 + 0.01 * (99 - 10) / 90)
    assert buckets.quantile_s(0.05) == pytest.approx(0.005)
    assert buckets.max_bound_s() == 0.02


def test_the_open_ended_bucket_answers_its_lower_bound() -> None:
    buckets = Buckets({0.01: 50, 0.02: 60, INF: 100})
    assert buckets.quantile_s(0.99) == 0.02
    assert buckets.max_bound_s() == INF


def test_two_scrapes_subtracted_hold_only_what_came_between() -> None:
    before = Buckets({0.01: 500, 0.05: 900, INF: 1000})
    after = Buckets({0.01: 500, 0.05: 1000, INF: 1100})
    between = after - before
    assert between.count == 100
    assert between.quantile_s(0.5) == pytest.approx(0.01 + 0.04 * 50 / 100)
    assert between.max_bound_s() == 0.05
    summary = between.summary_ms()
    assert summary["p50"] == pytest.approx(30.0)
    assert summary["max"] == pytest.approx(50.0)


def test_nothing_observed_gives_no_summary() -> None:
    assert Buckets({0.01: 7, INF: 7}) - Buckets({0.01: 7, INF: 7}) == Buckets({0.01: 0, INF: 0})
    assert Buckets({}).summary_ms() == {}
