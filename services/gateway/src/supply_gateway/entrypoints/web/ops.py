"""The replication panel of the staff: health figures, the consumer group's members, the last hour as
sparklines, firing alerts, dead letters, and for technical workers the repair of one sale.

The page and its fragment (refreshed by the page's script) show every part at once; a part whose
source does not answer says so in its place."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from supply_common.problems import ProblemError
from supply_gateway.entrypoints.session import client_address
from supply_gateway.entrypoints.web.page import PAGES, Page, page

router = APIRouter(include_in_schema=False)
SALE_ID = re.compile(r"^[0-9a-f]{24}$")


@dataclass(frozen=True)
class Sparkline:
    """A small line chart drawn as inline SVG: the line's path in a `width` x `height` box, and the
    words that stand for it (the latest value, the lowest and highest)."""

    title: str
    unit: str
    width: int
    height: int
    line: str
    """The SVG path of the line; empty when there are no points."""
    last: tuple[float, float] | None
    """Where the latest point is drawn."""
    latest: str
    low: str
    high: str

    @property
    def empty(self) -> bool:
        return not self.line

    @property
    def words(self) -> str:
        if self.empty:
            return f"{self.title}: no samples in the last hour."
        return (
            f"{self.title} over the last hour: now {self.latest} {self.unit}; lowest {self.low}, highest {self.high}."
        )


def number(value: float | None) -> str:
    """A measured value in few characters: whole numbers as such, others with two decimals below 100."""
    if value is None:
        return "–"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def sparkline(series: dict[str, Any], width: int = 240, height: int = 48, pad: float = 3.0) -> Sparkline:
    """The series' points (unix time, value) over the hour that ends at its last point, the lowest
    value at the bottom (zero when nothing is below it) and the highest at the top."""
    points: Sequence[Sequence[float]] = series.get("points") or []
    title, unit = str(series.get("title", "")), str(series.get("unit", ""))
    if not points:
        return Sparkline(title, unit, width, height, "", None, "–", "–", "–")
    end = float(points[-1][0])
    start = end - 3600.0
    values = [float(v) for _, v in points]
    low, high = min(0.0, min(values)), max(values)
    span = high - low or 1.0

    def at(t: float, v: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * max(0.0, (float(t) - start)) / 3600.0
        y = height - pad - (height - 2 * pad) * (float(v) - low) / span
        return round(x, 1), round(y, 1)

    drawn = [at(t, v) for t, v in points if math.isfinite(float(v))]
    line = "M" + " L".join(f"{x} {y}" for x, y in drawn)
    return Sparkline(
        title,
        unit,
        width,
        height,
        line,
        drawn[-1],
        number(values[-1]),
        number(series.get("min")),
        number(series.get("max")),
    )


async def _panel(current: Page) -> dict[str, Any]:
    """Every part of the panel, with its sparklines drawn and the dead letters whose sale the caller
    may repair marked `repairable` (a key that is a sale id, for a technical worker)."""
    panel = await current.gateway.panel(current.caller, current.request.state.request_id)
    panel["sparklines"] = [sparkline(series) for series in panel["history"].get("series", [])]
    may_repair = current.may("ops_repair")
    for letter in panel["dead_letters"].get("items", []):
        letter["repairable"] = may_repair and bool(SALE_ID.match(str(letter.get("key") or "")))
    return panel


@router.get("/ops")
@page("ops")
async def ops(request: Request, current: Page) -> Response:
    return current.render("ops.html", panel=await _panel(current))


@router.get("/ops/panel")
@page("ops", fragment=True)
async def ops_panel(request: Request, current: Page) -> Response:
    return current.render("_ops_panel.html", panel=await _panel(current))


@router.get("/ops/sales/{sale_id}/repair")
@page("ops_repair")
async def repair_confirm(request: Request, current: Page) -> Response:
    sale_id = request.path_params["sale_id"]
    if not SALE_ID.match(sale_id):
        raise ProblemError(404, "Page not found", "No sale has this id.")
    return current.render("ops_repair.html", sale_id=sale_id)


@router.post("/ops/sales/{sale_id}/repair")
@page("ops_repair")
async def repair(request: Request, current: Page) -> Response:
    """Repair one sale (CSRF-checked form), then the panel with a notice saying what was done."""
    sale_id = request.path_params["sale_id"]
    await current.check_form()
    rule = current.policy.rule(*PAGES["ops_repair"])
    current.gateway.limits.charge(rule, current.caller, client_address(request, current.settings))
    outcome = await current.gateway.repair_sale(current.caller, request.state.request_id, sale_id)
    return current.render("ops.html", panel=await _panel(current), notice=outcome["notice"])
