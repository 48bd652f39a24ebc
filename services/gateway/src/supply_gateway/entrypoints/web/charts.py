"""Chart geometry for server-rendered SVG: bars, ticks and labels computed here, drawn by templates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    value_text: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Tick:
    position: float
    text: str


@dataclass
class Chart:
    """`kind` is `bars` (horizontal, categories on the left) or `columns` (vertical, categories below)."""

    kind: str
    title: str
    axis_label: str
    category_label: str
    width: int
    height: int
    plot_left: float
    plot_top: float
    plot_width: float
    plot_height: float
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    labels: list[Tick] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing to draw: no categories, or none with a value (say, every score counted 0 times)."""
        return not any(bar.value for bar in self.bars)


def nice_ticks(maximum: float, count: int = 5, *, whole: bool = False) -> list[float]:
    """Round tick values from 0 to at least `maximum` (1-2-2.5-5 steps; whole numbers for counts)."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = max(maximum / count, 1.0) if whole else maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    top = math.ceil(maximum / step - 1e-9) * step
    return [round(i * step, 10) for i in range(round(top / step) + 1)]


def compact(value: float) -> str:
    """1234567 -> 1.2M, 12500 -> 12.5k, 12 -> 12."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def bar_chart(
    title: str, axis_label: str, data: Sequence[tuple[str, float]], value_format: str = "{:,.0f}", width: int = 560
) -> Chart:
    """Horizontal bars: good for a handful of named categories."""
    row = 30
    plot_left, plot_top = 120.0, 16.0
    plot_width = width - plot_left - 70
    plot_height = max(row * len(data), row)
    chart = Chart(
        "bars",
        title,
        axis_label,
        "",
        width,
        int(plot_top + plot_height + 48),
        plot_left,
        plot_top,
        plot_width,
        plot_height,
    )
    ticks = nice_ticks(max((value for _, value in data), default=0))
    scale = plot_width / ticks[-1]
    chart.ticks = [Tick(plot_left + t * scale, compact(t)) for t in ticks]
    for index, (label, value) in enumerate(data):
        y = plot_top + index * row + 5
        chart.bars.append(Bar(label, value, value_format.format(value), plot_left, y, max(value * scale, 1), row - 10))
    return chart


def column_chart(
    title: str,
    axis_label: str,
    category_label: str,
    data: Sequence[tuple[str, float]],
    value_format: str = "{:,.0f}",
    width: int = 560,
    height: int = 260,
    max_labels: int = 12,
    whole: bool = False,
) -> Chart:
    """Vertical columns: good for ordered categories (months, scores)."""
    plot_left, plot_top = 56.0, 16.0
    plot_width, plot_height = width - plot_left - 12, height - plot_top - 48
    chart = Chart(
        "columns", title, axis_label, category_label, width, height, plot_left, plot_top, plot_width, plot_height
    )
    ticks = nice_ticks(max((value for _, value in data), default=0), whole=whole)
    scale = plot_height / ticks[-1]
    chart.ticks = [Tick(plot_top + plot_height - t * scale, compact(t)) for t in ticks]
    if not data:
        return chart
    slot = plot_width / len(data)
    every = max(1, math.ceil(len(data) / max_labels))
    for index, (label, value) in enumerate(data):
        height_px = value * scale
        bar_width = min(slot * 0.7, 64.0)
        x = plot_left + index * slot + (slot - bar_width) / 2
        chart.bars.append(
            Bar(label, value, value_format.format(value), x, plot_top + plot_height - height_px, bar_width, height_px)
        )
        if index % every == 0:
            chart.labels.append(Tick(plot_left + index * slot + slot / 2, label))
    return chart
