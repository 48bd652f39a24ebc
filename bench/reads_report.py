"""The reads row's figures, growth factors and verdicts, and its tables and chart.

Figures are named `<where>_<measure>_<size>_<route key>`: `where` is `gateway`, `store` or `sql`,
`measure` is `p50`, `p95`, `p99`, `n` (calls measured) or `errors`. The verdicts and growth factors
are computed from the gateway's p95."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from rich.console import Console
from rich.table import Table

from bench.model import Row, Run
from bench.reads_routes import Kind, Route, routes
from bench.stats import Latencies

ROW_ID = "10"
WHERE = ("gateway", "store", "sql")
PERCENTILES = (50, 95, 99)
BASE_SIZE = 5_000
P95_TARGETS: dict[Kind, tuple[tuple[int, float], ...]] = {
    "fast": ((100_000, 50.0), (1_000_000, 100.0)),
    "range": ((100_000, 200.0),),
    "page": ((1_000_000, 300.0),),
}
"""(size, p95 at most, in ms) per kind of route."""
GROWTH_TARGETS: dict[Kind, tuple[int, float]] = {"fast": (1_000_000, 3.0)}
"""(size, at most this many times the p95 at `BASE_SIZE`) per kind of route."""


def key(where: str, measure: str, size: int, route: Route) -> str:
    return f"{where}_{measure}_{size}_{route.key}"


def record(row: Row, route: Route, size: int, where: str, latencies: Latencies, errors: int) -> None:
    """One route's measurement at one size from one place."""
    label = f"{route.label} at {size:,}: {where}"
    if latencies.count:
        for percentile in PERCENTILES:
            figure = row.figure(key(where, f"p{percentile}", size, route), f"{label} p{percentile}", "ms", False)
            figure.samples.append(latencies.percentile_ms(percentile))
    row.figure(key(where, "n", size, route), f"{label} calls", "count").samples.append(latencies.count - errors)
    row.figure(key(where, "errors", size, route), f"{label} errors", "count", False).samples.append(errors)


def value(row: Row, name: str) -> float | None:
    figure = row.get(name)
    spread = figure.spread if figure else None
    return spread.median if spread else None


def sizes_of(row: Row) -> list[int]:
    found = {int(figure.key.split("_")[2]) for figure in row.figures if figure.key.startswith("gateway_p95_")}
    return sorted(found)


def growth(row: Row, route: Route, size: int, sizes: Iterable[int]) -> float | None:
    """The gateway p95 at `size` over the p95 at the smallest size measured."""
    smallest = min(sizes)
    base, top = value(row, key("gateway", "p95", smallest, route)), value(row, key("gateway", "p95", size, route))
    if size == smallest or base is None or top is None or base <= 0:
        return None
    return top / base


@dataclass(frozen=True)
class Check:
    what: str
    value: float
    limit: float
    unit: str

    @property
    def meets(self) -> bool:
        return self.value <= self.limit

    def __str__(self) -> str:
        if self.unit == "x":
            shown, limit = f"{self.value:.1f}x", f"{self.limit:g}x"
        else:
            shown, limit = f"{self.value:,.0f} ms", f"{self.limit:g} ms"
        return f"{self.what} {shown} {'<=' if self.meets else '>'} {limit}"


def checks(row: Row, route: Route, sizes: list[int]) -> list[Check]:
    """The targets of this route that the sizes measured can decide."""
    found = []
    for size, limit in P95_TARGETS[route.kind]:
        p95 = value(row, key("gateway", "p95", size, route))
        if size in sizes and p95 is not None:
            found.append(Check(f"p95 at {_size(size)}", p95, limit, "ms"))
    if route.kind in GROWTH_TARGETS:
        size, limit = GROWTH_TARGETS[route.kind]
        factor = growth(row, route, size, sizes) if BASE_SIZE in sizes and size in sizes else None
        if factor is not None:
            found.append(Check(f"growth {_size(BASE_SIZE)} to {_size(size)}", factor, limit, "x"))
    return found


def failed_at(row: Row, route: Route, sizes: list[int]) -> list[int]:
    """The sizes at which a call of the route failed through the gateway."""
    return [size for size in sizes if (value(row, key("gateway", "errors", size, route)) or 0) > 0]


def deciding(route: Route) -> set[int]:
    """The sizes that decide the route's targets."""
    found = {size for size, _ in P95_TARGETS[route.kind]}
    if route.kind in GROWTH_TARGETS:
        found |= {BASE_SIZE, GROWTH_TARGETS[route.kind][0]}
    return found


def verdict(row: Row, route: Route, sizes: list[int]) -> str:
    """`meets`, `misses: ...` with what missed, or nothing when the sizes measured decide no target.
    A route that failed at a size that decides a target misses it."""
    failed = [size for size in failed_at(row, route, sizes) if size in deciding(route)]
    missed = [f"failed at {_size(size)}" for size in failed]
    found = checks(row, route, sizes)
    missed += [str(check) for check in found if not check.meets]
    if missed:
        return "misses: " + "; ".join(missed)
    return "meets" if found else ""


def summarise(row: Row, sizes: Iterable[int]) -> None:
    """Growth per route, and per kind of route the slowest p95 and the largest growth at each size: the
    figures the ratios table holds against the targets."""
    measured = sorted(sizes)
    for route in routes():
        for size in measured[1:]:
            factor = growth(row, route, size, measured)
            if factor is not None:
                label = f"{route.label}: growth {_size(measured[0])} to {_size(size)}"
                row.figure(f"growth_{size}_{route.key}", label, "x", False).samples.append(factor)
    for kind in P95_TARGETS:
        members = [route for route in routes() if route.kind == kind]
        for size in measured:
            p95s = [value(row, key("gateway", "p95", size, route)) for route in members]
            known = [p95 for p95 in p95s if p95 is not None]
            if known:
                label = f"slowest p95 of the {kind} routes at {size:,}"
                row.figure(f"{kind}_worst_p95_{size}", label, "ms", False).samples.append(max(known))
            factors = [value(row, f"growth_{size}_{route.key}") for route in members]
            known = [factor for factor in factors if factor is not None]
            if known:
                label = f"largest growth of the {kind} routes, {_size(measured[0])} to {_size(size)}"
                row.figure(f"{kind}_worst_growth_{size}", label, "x", False).samples.append(max(known))


def _size(size: int) -> str:
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}M"
    if size >= 1_000 and size % 1_000 == 0:
        return f"{size // 1_000}k"
    return f"{size:,}"


def _ms(number: float | None) -> str:
    if number is None:
        return "-"
    return f"{number:,.0f}" if number >= 100 else f"{number:.1f}"


def latency_lines(row: Row) -> list[list[str]]:
    """route, size, then p50/p95/p99 through the gateway, p50/p95 from the store and from SQL, errors."""
    lines = []
    for route in routes():
        for size in sizes_of(row):
            cells = [route.label, _size(size)]
            for where, measures in (("gateway", (50, 95, 99)), ("store", (50, 95)), ("sql", (50, 95))):
                cells += [_ms(value(row, key(where, f"p{p}", size, route))) for p in measures]
            errors = sum(value(row, key(where, "errors", size, route)) or 0 for where in WHERE)
            cells.append(str(int(errors)) if errors else "")
            lines.append(cells)
    return lines


LATENCY_COLUMNS = (
    "route",
    "sales",
    "gateway p50",
    "p95",
    "p99",
    "store p50",
    "p95",
    "SQL p50",
    "p95",
    "errors",
)


def growth_lines(row: Row) -> list[list[str]]:
    """route, the gateway p95 at each size, the growth to each larger size, the verdict."""
    sizes = sizes_of(row)
    lines = []
    for route in routes():
        cells = [route.label]
        cells += [_ms(value(row, key("gateway", "p95", size, route))) for size in sizes]
        failed = failed_at(row, route, sizes)
        for size in sizes[1:]:
            factor = value(row, f"growth_{size}_{route.key}")
            cells.append("-" if factor is None or {sizes[0], size} & set(failed) else f"{factor:.1f}x")
        cells.append(verdict(row, route, sizes))
        lines.append(cells)
    return lines


def growth_columns(row: Row) -> list[str]:
    sizes = sizes_of(row)
    return [
        "route",
        *(f"p95 at {_size(size)}" for size in sizes),
        *(f"{_size(sizes[0])} to {_size(size)}" for size in sizes[1:]),
        "verdict",
    ]


def print_tables(console: Console, run: Run) -> None:
    row = run.row(ROW_ID)
    if row is None or row.status != "ok" or not sizes_of(row):
        return
    latency = Table(title="Reads: latency by route and copy size (ms; one client, one call at a time)")
    for index, column in enumerate(LATENCY_COLUMNS):
        latency.add_column(column, justify="left" if index < 2 else "right")
    for cells in latency_lines(row):
        latency.add_row(*cells)
    console.print(latency)
    verdicts = Table(title="Reads: gateway p95 (ms), its growth from the smallest size, and the targets")
    for index, column in enumerate(growth_columns(row)):
        verdicts.add_column(column, justify="right" if 0 < index < len(growth_columns(row)) - 1 else "left")
    for cells in growth_lines(row):
        verdicts.add_row(*cells)
    console.print(verdicts)


def markdown(run: Run) -> list[str]:
    row = run.row(ROW_ID)
    if row is None or row.status != "ok" or not sizes_of(row):
        return []
    lines = ["", "Reads (row 10), latency in ms, one client, one call at a time:", ""]
    lines += _markdown_table(list(LATENCY_COLUMNS), latency_lines(row))
    lines += ["", "Reads: gateway p95 (ms), its growth from the smallest size, and the targets:", ""]
    lines += _markdown_table(growth_columns(row), growth_lines(row))
    return lines


def _markdown_table(columns: list[str], lines: list[list[str]]) -> list[str]:
    head = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" if i < 1 else "---:" for i in range(len(columns))) + "|",
    ]
    return head + ["| " + " | ".join(cells) + " |" for cells in lines]


def chart(run: Run) -> plt.Figure | None:
    """The gateway p95 of every route at every size (log scale), with the targets' lines."""
    row = run.row(ROW_ID)
    if row is None or row.status != "ok" or not sizes_of(row):
        return None
    sizes = sizes_of(row)
    every = routes()
    fig, axis = plt.subplots(figsize=(11, 0.32 * len(every) * max(1, len(sizes)) / 1.6 + 2))
    height = 0.8 / len(sizes)
    for offset, size in enumerate(sizes):
        p95s = [value(row, key("gateway", "p95", size, route)) or 0.0 for route in every]
        positions = [index + offset * height for index in range(len(every))]
        axis.barh(positions, p95s, height=height, label=f"{size:,} sales")
    for limit, style in ((50, ":"), (100, "--"), (200, "-."), (300, "-")):
        axis.axvline(limit, color="black", linestyle=style, linewidth=1)
    axis.set_yticks([index + 0.4 - height / 2 for index in range(len(every))])
    axis.set_yticklabels([route.label for route in every], fontsize=7)
    axis.invert_yaxis()
    axis.set_xscale("log")
    axis.set_xlabel("p95 through the gateway (ms, log scale); lines at the targets: 50, 100, 200, 300 ms")
    axis.set_title(f"Reads by route and copy size ({run.profile} run, {run.started_at})")
    axis.grid(axis="x", which="both", alpha=0.3)
    axis.legend(fontsize=8)
    return fig
