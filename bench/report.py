"""The printed table, the PNG charts next to the JSON, and the recorded summary in docs/ (`RECORD=1`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from rich.console import Console
from rich.table import Table

from bench.model import Figure, Ratio, Run


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def _spread(figure: Figure) -> tuple[str, str, str]:
    spread = figure.spread
    if spread is None:
        return "-", "-", "0"
    return _number(spread.median), f"{_number(spread.low)} - {_number(spread.high)}", str(spread.n)


def _ratio_value(ratio: Ratio) -> str:
    if ratio.value is None:
        return "n/a"
    value = f"{ratio.value:.2f}" if ratio.unit == "x" else _number(ratio.value)
    return f"{value} {ratio.unit}"


def _ratio_range(ratio: Ratio) -> str:
    if ratio.low is None or ratio.high is None:
        return "-"
    if ratio.unit == "x":
        return f"{ratio.low:.2f} - {ratio.high:.2f}"
    return f"{_number(ratio.low)} - {_number(ratio.high)}"


def _verdict(ratio: Ratio) -> str:
    if ratio.meets is None:
        return ""
    return "meets" if ratio.meets else "misses"


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
        for index, figure in enumerate(row.figures):
            median, low_high, n = _spread(figure)
            table.add_row(
                row.id if index == 0 else "",
                figure.label if index else f"{row.title}: {figure.label}",
                median,
                low_high,
                n,
                figure.unit,
            )
    console.print(table)

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
                    _number(point.offered_per_s),
                    *(
                        _number(_median(values))
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
        ratios.add_row(ratio.label, _ratio_value(ratio), _ratio_range(ratio), ratio.target, _verdict(ratio))
    console.print(ratios)


def _median(values: list[float] | list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return float(ordered[middle]) if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def charts(run: Run, base: Path) -> list[Path]:
    """PNG charts named `<base>-<what>.png`."""
    written = []
    for name, draw in (("throughput", _throughput), ("latency", _latency), ("ratios", _ratios)):
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
            values = [_median(getattr(point, attribute)) for point in points]
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


def markdown_summary(run: Run, json_path: Path, heading: str = "Run of", level: int = 2) -> str:
    """One recorded run as a markdown section: its table, open-loop curves and ratios."""
    machine = run.machine
    lines = [
        f"{'#' * level} {heading} {run.started_at} ({run.profile})",
        "",
        f"Machine: {machine.get('cores_logical')} cores ({machine.get('cpu_model')}), {machine.get('memory_gib')} GiB;"
        f" MariaDB {machine.get('mariadb')}, Kafka {machine.get('kafka')}, FerretDB {machine.get('ferretdb')},"
        f" Python {machine.get('python')}; commit {machine.get('git_commit')}; load average at start"
        f" {machine.get('load_average_at_start')}. Repetitions: {run.settings.get('reps')} for the raw rows,"
        f" {run.settings.get('reps_service')} for the service rows, {run.settings.get('reps_projector')} for the"
        f" projector; {run.settings.get('duration_s')} s per point; took {run.elapsed_s:.0f} s."
        f" Results: `{json_path.name}`.",
        "",
        "| row | measure | median | min - max | unit |",
        "|---|---|---:|---:|---|",
    ]
    for row in run.rows:
        if row.status != "ok":
            lines.append(f"| {row.id} | {row.title} | {row.note or row.status} | | |")
            continue
        for figure in row.figures:
            median, low_high, _ = _spread(figure)
            lines.append(f"| {row.id} | {row.title}: {figure.label} | {median} | {low_high} | {figure.unit} |")
    curves = [(row, name, points) for row in run.rows for name, points in row.curves.items()]
    if curves:
        lines += [
            "",
            "Open-loop latency, from each request's scheduled start (median of repetitions):",
            "",
            "| row | series | load | offered/s | achieved/s | p50 ms | p99 ms | p99.9 ms | max ms |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row, name, points in curves:
            for point in points:
                values = (point.achieved_per_s, point.p50_ms, point.p99_ms, point.p999_ms, point.max_ms)
                cells = " | ".join(_number(_median(value)) for value in values)
                lines.append(f"| {row.id} | {name} | {point.fraction:.0%} | {_number(point.offered_per_s)} | {cells} |")
    lines += ["", "| ratio | value | range | target | |", "|---|---:|---:|---|---|"]
    for ratio in run.ratios:
        lines.append(
            f"| {ratio.label} | {_ratio_value(ratio)} | {_ratio_range(ratio)} | {ratio.target} | {_verdict(ratio)} |"
        )
    lines.append("")
    return "\n".join(lines) + "\n"


LATEST_START = "<!-- latest recorded run: `make bench RECORD=1` replaces what is between these markers -->"
LATEST_END = "<!-- end of the latest recorded run -->"
HISTORY_HEADER = """# Performance history

Every run recorded with `make bench RECORD=1`, oldest first, and what was read from each: the
comparisons from run to run, the profiles and the trials behind each change. Where things stand now
is in [performance.md](performance.md).
"""
RUNS_HEADING = "## Recorded runs, oldest first"


def record(run: Run, json_path: Path, docs: Path) -> tuple[Path, Path]:
    """Put the run in `docs/performance.md` in place of the latest one, and at the end of the history.

    The history keeps its recorded runs as its last section, so a run is appended. The overview keeps
    one run between `LATEST_START` and `LATEST_END`; without the markers the run is appended with them."""
    overview, history = docs / "performance.md", docs / "performance-history.md"
    docs.mkdir(parents=True, exist_ok=True)
    if not history.exists():
        history.write_text(f"{HISTORY_HEADER}\n{RUNS_HEADING}\n")
    with history.open("a") as handle:
        handle.write("\n" + markdown_summary(run, json_path, level=3))
    latest = f"{LATEST_START}\n{markdown_summary(run, json_path, heading='Latest recorded run:')}{LATEST_END}\n"
    text = overview.read_text() if overview.exists() else "# Performance\n"
    start, end = text.find(LATEST_START), text.find(LATEST_END)
    if start != -1 and end > start:
        text = text[:start] + latest + text[end + len(LATEST_END) :].removeprefix("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + latest
    overview.write_text(text)
    return overview, history
