"""The printed table and the PNG charts next to the JSON; what is recorded in docs/ is in `bench.record`."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from rich.console import Console
from rich.table import Table

from bench import reads_report
from bench.model import Run
from bench.record import median, number, ratio_range, ratio_value, spread_cells, verdict


def print_tables(console: Console, run: Run) -> None:
    table = Table(title=f"Supply Store bench ({run.profile}, median of repetitions)", show_lines=False)
    for column, justify in (("row", "left"), ("measure", "left"), ("median", "right"), ("min - max", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("n", justify="right")
    table.add_column("unit")
    for row in run.rows:
        if row.status != "ok":
            table.add_row(f"{row.id}", row.title, f"[yellow]{row.note or row.status}", "", "", "")
            continue
        if row.id == reads_report.ROW_ID:
            table.add_row(row.id, row.title, "in the reads tables", "", "", "")
            continue
        for index, figure in enumerate(row.figures):
            middle, low_high, n = spread_cells(figure)
            table.add_row(
                row.id if index == 0 else "",
                figure.label if index else f"{row.title}: {figure.label}",
                middle,
                low_high,
                n,
                figure.unit,
            )
    console.print(table)
    reads_report.print_tables(console, run)

    latency = Table(title="Open-loop latency (from the scheduled start), median of repetitions")
    for column in (
        "row",
        "series",
        "load",
        "offered/s",
        "achieved/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "errors",
    ):
        latency.add_column(column, justify="left" if column in ("row", "series") else "right")
    for row in run.rows:
        for series, points in row.curves.items():
            for point in points:
                latency.add_row(
                    row.id,
                    series,
                    f"{point.fraction:.0%}",
                    number(point.offered_per_s),
                    *(
                        number(median(values))
                        for values in (point.achieved_per_s, point.p50_ms, point.p99_ms, point.p999_ms, point.max_ms)
                    ),
                    str(sum(point.errors)),
                )
    if latency.row_count:
        console.print(latency)

    ratios = Table(title="Ratios (medians; range from the extremes of the repetitions)")
    for column in ("ratio", "value", "range", "target", ""):
        ratios.add_column(column, justify="left" if column in ("ratio", "target", "") else "right")
    for ratio in run.ratios:
        ratios.add_row(ratio.label, ratio_value(ratio), ratio_range(ratio), ratio.target, verdict(ratio))
    console.print(ratios)


def charts(run: Run, base: Path) -> list[Path]:
    """PNG charts named `<base>-<what>.png`."""
    written = []
    for name, draw in (
        ("throughput", _throughput),
        ("latency", _latency),
        ("ratios", _ratios),
        ("reads", reads_report.chart),
    ):
        figure = draw(run)
        if figure is None:
            continue
        path = base.with_name(f"{base.name}-{name}.png")
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


def _throughput(run: Run) -> plt.Figure | None:
    bars = [
        (f"{row.id}: {figure.label}", figure)
        for row in run.rows
        if row.status == "ok"
        for figure in row.figures
        if figure.unit.endswith("/s") and figure.spread is not None
    ]
    if not bars:
        return None
    fig, axis = plt.subplots(figsize=(10, 0.45 * len(bars) + 1.5))
    labels = [label for label, _ in bars]
    medians = [figure.spread.median for _, figure in bars]  # type: ignore[union-attr]
    lows = [m - figure.spread.low for m, (_, figure) in zip(medians, bars, strict=True)]  # type: ignore[union-attr]
    highs = [figure.spread.high - m for m, (_, figure) in zip(medians, bars, strict=True)]  # type: ignore[union-attr]
    axis.barh(labels, medians, xerr=[lows, highs], color="#4c72b0", capsize=3)
    axis.set_xscale("log")
    axis.invert_yaxis()
    axis.set_xlabel("operations per second (log scale; bar = median, whisker = min to max)")
    axis.set_title(f"Throughput by row ({run.profile} run, {run.started_at})")
    axis.grid(axis="x", which="both", alpha=0.3)
    return fig


def _latency(run: Run) -> plt.Figure | None:
    series = [(f"{row.id}: {name}", points) for row in run.rows for name, points in row.curves.items() if points]
    if not series:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=False)
    for label, points in series:
        rates = [point.offered_per_s for point in points]
        for axis, attribute in zip(axes, ("p50_ms", "p99_ms"), strict=True):
            values = [median(getattr(point, attribute)) for point in points]
            axis.plot(rates, [v if v is not None else float("nan") for v in values], marker="o", label=label)
    for axis, title in zip(axes, ("p50", "p99"), strict=True):
        axis.set_title(f"{title} latency vs offered rate (open loop)")
        axis.set_xlabel("offered rate (requests or sales per second)")
        axis.set_ylabel(f"{title} latency (ms, log scale)")
        axis.set_yscale("log")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _ratios(run: Run) -> plt.Figure | None:
    shown = [ratio for ratio in run.ratios if ratio.unit == "x" and ratio.value is not None]
    if not shown:
        return None
    fig, axis = plt.subplots(figsize=(10, 0.5 * len(shown) + 1.5))
    labels = [ratio.label for ratio in shown]
    values = [ratio.value or 0.0 for ratio in shown]
    colours = ["#55a868" if ratio.meets else ("#c44e52" if ratio.meets is False else "#8c8c8c") for ratio in shown]
    axis.barh(labels, values, color=colours)
    for index, ratio in enumerate(shown):
        if ratio.target:
            target = float(ratio.target.split()[1])
            axis.plot([target, target], [index - 0.4, index + 0.4], color="black", linewidth=2)
    axis.invert_yaxis()
    axis.set_xlabel("ratio (x); black mark = target, green = meets, red = misses")
    axis.set_title("Ratios against the targets")
    axis.grid(axis="x", alpha=0.3)
    return fig
