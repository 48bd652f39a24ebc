"""The reads row: which routes it measures, how it samples them, and how it judges them."""

from __future__ import annotations

import time
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pytest
from rich.console import Console

from bench import reads_report, record
from bench.model import Row, Run
from bench.reads_data import Copy
from bench.reads_routes import PAGES, REPORTS, Route, Subject, routes, windows_of
from bench.rows.reads import measure
from bench.stats import Latencies
from supply_common.contract import SALE_FILTERS
from supply_common.testing import dataset
from supply_gateway.domain.policy import ANALYTICS_REPORTS, POLICY
from supply_projector.domain.queries import SORTS

SUBJECT = Subject(("5bd761dcae323e45a93ccfe8", "5bd761dcae323e45a93ccfe9"), "cauho@witwuta.sv")


def _route(key: str) -> Route:
    return next(route for route in routes() if route.key == key)


def test_every_filter_alone_every_sort_and_every_analytics_report_in_each_window_are_measured() -> None:
    queries = [parse_qs(urlsplit(route.path(SUBJECT, 0)).query) for route in routes() if route.key.startswith("sales")]
    named = {name for query in queries for name in query}
    assert named == set(SALE_FILTERS)
    assert set(SORTS) - {"date_desc"} == {value for query in queries for value in query.get("sort", [])}
    assert {} in queries  # unfiltered, newest first (date_desc, the default)
    assert all(
        len(query) == 1 or set(query) in ({"date_from", "date_to"}, {"total_min", "total_max"})
        for query in queries
        if query
    )
    assert set(REPORTS) == set(ANALYTICS_REPORTS)
    analytics = {route.path(SUBJECT, 0) for route in routes() if route.key.startswith("analytics.")}
    assert len(analytics) == sum(len(windows_of(report)) for report in REPORTS)
    public = {rule.path for rule in POLICY if rule.method == "GET"}
    for route in routes():
        path = urlsplit(route.path(SUBJECT, 0)).path
        if not route.key.startswith("page."):
            assert path in public or path.rsplit("/", 1)[0] + "/{id}" in public


def test_each_role_has_its_page_and_every_analytics_route_its_sql() -> None:
    assert {route.role for route in routes() if route.kind == "page"} == set(PAGES)
    for route in routes():
        assert (route.sql is not None) == route.key.startswith("analytics.")
        assert route.store is not None or route.kind == "page"


def test_a_sale_by_id_takes_the_ids_in_turn() -> None:
    sale = _route("sale")
    assert [sale.path(SUBJECT, n) for n in range(3)] == [
        "/api/sales/5bd761dcae323e45a93ccfe8",
        "/api/sales/5bd761dcae323e45a93ccfe9",
        "/api/sales/5bd761dcae323e45a93ccfe8",
    ]


def test_a_route_is_warmed_up_once_then_sampled_up_to_the_count() -> None:
    calls: list[int] = []
    result = measure(calls.append, samples=5, budget_s=60)
    assert calls == [0, 1, 2, 3, 4, 5]
    assert result.latencies.count == 5
    assert result.errors == 0


def test_a_failed_call_ends_the_route_and_counts_as_slow_not_missing() -> None:
    def call(index: int) -> None:
        if index == 2:
            raise TimeoutError("the gateway gave up")

    result = measure(call, samples=5, budget_s=60)
    assert result.errors == 1
    assert result.latencies.count == 2  # one success after the warm-up, then the failure's time
    assert "the gateway gave up" in result.first_error


def test_the_time_budget_stops_sampling_before_the_count() -> None:
    def call(_: int) -> None:
        time.sleep(0.02)

    result = measure(call, samples=100, budget_s=0.1)
    assert 1 <= result.latencies.count < 100


def test_a_warm_up_call_slower_than_the_whole_budget_is_the_one_sample() -> None:
    calls: list[int] = []

    def slow(index: int) -> None:
        calls.append(index)
        time.sleep(0.02)

    result = measure(slow, samples=100, budget_s=0.01)
    assert calls == [0]
    assert result.latencies.count == 1
    assert result.latencies.percentile_ms(50) >= 20


def _latencies(ms: float) -> Latencies:
    latencies = Latencies()
    for _ in range(10):
        latencies.record_s(ms / 1000)
    return latencies


def _row(p95s: dict[str, dict[int, float]]) -> Row:
    row = Row(reads_report.ROW_ID, "reads")
    for route in routes():
        for size, ms in p95s.get(route.key, {}).items():
            reads_report.record(row, route, size, "gateway", _latencies(ms), 0)
    return row


def test_fast_routes_are_held_to_their_p95_at_each_size_and_their_growth() -> None:
    row = _row(
        {"sale": {5_000: 10, 100_000: 20, 1_000_000: 25}, "sales.store": {5_000: 10, 100_000: 60, 1_000_000: 90}}
    )
    sizes = [5_000, 100_000, 1_000_000]
    reads_report.summarise(row, sizes)
    assert reads_report.verdict(row, _route("sale"), sizes) == "meets"
    missed = reads_report.verdict(row, _route("sales.store"), sizes)
    assert missed.startswith("misses")
    assert "p95 at 100k 60 ms > 50 ms" in missed
    assert "growth 5k to 1M 9.0x > 3x" in missed
    assert reads_report.value(row, "fast_worst_p95_100000") == pytest.approx(60, rel=0.01)
    assert reads_report.value(row, "fast_worst_growth_1000000") == pytest.approx(9, rel=0.01)


def test_range_filters_and_pages_have_their_own_targets() -> None:
    row = _row({"sales.total": {5_000: 100, 100_000: 150}, "page.senior_management": {5_000: 100, 1_000_000: 400}})
    sizes = [5_000, 100_000, 1_000_000]
    reads_report.summarise(row, sizes)
    assert reads_report.verdict(row, _route("sales.total"), sizes) == "meets"
    page = reads_report.verdict(row, _route("page.senior_management"), sizes)
    assert page == "misses: p95 at 1M 400 ms > 300 ms"
    assert reads_report.value(row, "range_worst_p95_100000") == pytest.approx(150, rel=0.01)


def test_a_quick_run_shows_growth_between_its_sizes_without_verdicts() -> None:
    row = _row({route.key: {300: 10.0, 1_500: 25.0} for route in routes()})
    reads_report.summarise(row, [300, 1_500])
    run = Run("2026-12-06T00:00:00+00:00", "quick", {}, {}, rows=[row])
    lines = reads_report.growth_lines(row)
    assert all(cells[-2] == "2.5x" and cells[-1] == "" for cells in lines)
    console = Console(record=True, width=250)
    reads_report.print_tables(console, run)
    assert "GET /api/analytics/coupons (30d)" in console.export_text()
    markdown = reads_report.markdown(run)
    widths = {line.count("|") for line in markdown if line.startswith("|")}
    assert len(widths) == 2  # each of the two tables keeps its columns
    assert reads_report.chart(run) is not None
    recorded = record.Tables.of(run, "run.json.gz").markdown()
    assert "Reads (row 10)" in recorded
    assert recorded.count("GET /api/analytics/coupons (30d)") == 3  # a line per size, then one for its growth


def test_a_route_that_failed_misses_and_shows_no_growth() -> None:
    row = _row({"me": {5_000: 10, 100_000: 12}})
    reads_report.record(row, _route("me"), 1_000_000, "gateway", _latencies(10_000), 1)
    sizes = [5_000, 100_000, 1_000_000]
    reads_report.summarise(row, sizes)
    verdict = reads_report.verdict(row, _route("me"), sizes)
    assert verdict.startswith("misses: failed at 1M; p95 at 1M 10,0")
    assert "growth 5k to 1M" in verdict
    line = next(cells for cells in reads_report.growth_lines(row) if cells[0].startswith("GET /api/me/sales"))
    assert line[-3:-1] == ["1.2x", "-"]


def test_the_copy_reads_about_the_customer_with_most_purchases_up_to_20_and_ids_from_all_of_it() -> None:
    loaded = list(dataset.sales(3_000, seed=5, customers=2_000))
    copy = Copy(None, "", "", "", "", "", None, iter(()))  # type: ignore[arg-type]
    copy._remember(loaded)
    email, purchases = copy.customer()
    counts = Counter(sale["customer"]["email"] for sale in loaded)
    assert counts[email] == purchases == max(count for count in counts.values() if count <= 20)
    assert max(counts.values()) > 20  # the most frequent buyer is passed over
    ids = [sale["_id"] for sale in loaded]
    assert len(set(copy.sale_ids)) == len(copy.sale_ids) == 500
    assert set(copy.sale_ids) <= set(ids)
    assert set(copy.sale_ids) & set(ids[2_000:])  # drawn over the whole copy, not its first sales


def test_a_failure_at_a_size_that_decides_nothing_gives_no_verdict() -> None:
    row = Row(reads_report.ROW_ID, "reads")
    reads_report.record(row, _route("sales.total"), 5_000, "gateway", _latencies(10_000), 1)
    assert reads_report.verdict(row, _route("sales.total"), [5_000]) == ""
    reads_report.record(row, _route("sale"), 5_000, "gateway", _latencies(10_000), 1)
    assert reads_report.verdict(row, _route("sale"), [5_000]) == "misses: failed at 5k"
