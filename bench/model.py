"""The results of one run: rows of figures (each the samples of several repetitions), ratios, machine facts."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench.stats import Spread

Status = Literal["ok", "n/a", "error"]


@dataclass
class Figure:
    """One measured quantity; `samples` holds one value per repetition."""

    key: str
    label: str
    unit: str
    samples: list[float] = field(default_factory=list)
    higher_is_better: bool = True

    @property
    def spread(self) -> Spread | None:
        return Spread.of(self.samples)


@dataclass
class LatencyPoint:
    """Open-loop latency at one offered rate (a fraction of a measured maximum), per repetition."""

    fraction: float
    offered_per_s: float
    achieved_per_s: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    p999_ms: list[float] = field(default_factory=list)
    max_ms: list[float] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)

    def record(self, achieved_per_s: float, errors: int, summary: dict[str, float] | None) -> None:
        """One repetition: its rate, its errors and (when anything completed) its percentiles."""
        self.achieved_per_s.append(achieved_per_s)
        self.errors.append(errors)
        if summary:
            self.p50_ms.append(summary["p50"])
            self.p99_ms.append(summary["p99"])
            self.p999_ms.append(summary["p999"])
            self.max_ms.append(summary["max"])


@dataclass
class Row:
    id: str
    title: str
    status: Status = "ok"
    note: str = ""
    figures: list[Figure] = field(default_factory=list)
    curves: dict[str, list[LatencyPoint]] = field(default_factory=dict)
    curve_unit: str = "requests/s"

    def figure(self, key: str, label: str, unit: str, higher_is_better: bool = True) -> Figure:
        for existing in self.figures:
            if existing.key == key:
                return existing
        created = Figure(key, label, unit, higher_is_better=higher_is_better)
        self.figures.append(created)
        return created

    def get(self, key: str) -> Figure | None:
        return next((figure for figure in self.figures if figure.key == key), None)


@dataclass
class Ratio:
    label: str
    numerator: str
    denominator: str
    value: float | None = None
    low: float | None = None
    high: float | None = None
    target: str = ""
    meets: bool | None = None
    unit: str = "x"


@dataclass
class Run:
    started_at: str
    profile: str
    settings: dict[str, Any]
    machine: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    elapsed_s: float = 0.0
    profiles: dict[str, str] = field(default_factory=dict)

    def row(self, row_id: str) -> Row | None:
        return next((row for row in self.rows if row.id == row_id), None)

    def lookup(self, reference: str) -> Figure | None:
        """`"2:creates_c16"` -> the figure `creates_c16` of row 2."""
        row_id, _, key = reference.partition(":")
        row = self.row(row_id)
        return row.get(key) if row and row.status == "ok" else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for row_data, row in zip(data["rows"], self.rows, strict=True):
            for figure_data, figure in zip(row_data["figures"], row.figures, strict=True):
                spread = figure.spread
                figure_data["summary"] = asdict(spread) if spread else None
        return data

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")
