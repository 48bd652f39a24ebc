"""The replication panel's parts beyond the health figures: the consumer group's members, the dead
letters, lag and throughput over the last hour and the firing alerts (from Prometheus), and the repair
of one sale. Each part comes from its own source and says so when that source cannot answer, so
that one source down never hides the others."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from supply_gateway.adapters.upstream import Upstream, UpstreamFailure
from supply_gateway.domain.policy import PROJECTOR

Fetch = Callable[[str, str], Awaitable[Any]]
"""GET a JSON answer from an upstream (`OperatorViews._reader`): raises `UpstreamFailure` or `ValueError`."""

DEAD_LETTERS_SHOWN: Final = 50
HOUR_S: Final = 3600
STEP_S: Final = 60


@dataclass(frozen=True)
class Measure:
    """One sparkline: a PromQL expression over the metrics the services export, and its unit."""

    name: str
    title: str
    query: str
    unit: str


MEASURES: Final = (
    Measure("lag", "Consumer lag", "sum(max by (partition) (projector_consumer_lag))", "events"),
    Measure(
        "applied",
        "Events applied",
        'sum(rate(projector_events_total{outcome="applied"}[2m]))',
        "events/s",
    ),
)
"""Lag: the events of `sales.events` not yet applied, summed over partitions (each partition's lag as
the consumer holding it reports it). Throughput: events applied to the copy per second."""

SEVERITY_ORDER: Final = {"critical": 0, "warning": 1, "info": 2}


def _failed(exc: Exception) -> dict[str, Any]:
    return {"status": "unavailable", "detail": str(exc) if isinstance(exc, UpstreamFailure) else "invalid answer"}


def _with_list(answer: Any, key: str) -> dict[str, Any]:
    if not isinstance(answer, dict) or not isinstance(answer.get(key), list):
        raise ValueError(f"no {key} in the answer")
    return answer


async def consumers(fetch: Fetch) -> dict[str, Any]:
    """The projector's consumer group: each member (client id, host) with its partitions and their lag."""
    try:
        answer = _with_list(await fetch(PROJECTOR, "/consumers"), "members")
    except (UpstreamFailure, ValueError) as exc:
        return {**_failed(exc), "members": [], "unassigned": []}
    return {"status": "ok", **answer}


async def dead_letters(fetch: Fetch, limit: int = DEAD_LETTERS_SHOWN) -> dict[str, Any]:
    """The newest dead letters, newest first, with the headers that say why each was refused."""
    try:
        answer = _with_list(await fetch(PROJECTOR, f"/dead-letters?{urlencode({'limit': limit})}"), "items")
    except (UpstreamFailure, ValueError) as exc:
        return {**_failed(exc), "items": [], "count": None}
    return {"status": "ok", **answer}


async def _prometheus(prometheus: Upstream, path: str, query: Mapping[str, Any]) -> Any:
    response = await prometheus.send("GET", path, query=urlencode(query), stream=False)
    if response.status_code != 200:
        raise UpstreamFailure(prometheus.name, 502, f"Prometheus answered {response.status_code}")
    body = response.json()
    if not isinstance(body, dict) or body.get("status") != "success":
        raise ValueError("not a Prometheus answer")
    return body.get("data")


def points_of(data: Any) -> list[tuple[float, float]]:
    """The one series of a `query_range` answer as (unix time, value), in time order; NaN and
    infinite samples dropped. No series (no samples in the hour) is no points."""
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise ValueError("not a range answer")
    results = data.get("result") or []
    if not results:
        return []
    points = []
    for stamp, text in results[0].get("values") or []:
        value = float(text)
        if math.isfinite(value):
            points.append((float(stamp), value))
    return sorted(points)


async def history(prometheus: Upstream | None, now: float | None = None) -> dict[str, Any]:
    """Each measure of `MEASURES` over the last hour, a point a minute, with its latest value and the
    hour's lowest and highest."""
    if prometheus is None:
        return {"status": "not_configured", "detail": "PROMETHEUS_URL is not set", "series": []}
    end = math.floor(time.time() if now is None else now)
    series = []
    for measure in MEASURES:
        query = {"query": measure.query, "start": end - HOUR_S, "end": end, "step": STEP_S}
        try:
            points = points_of(await _prometheus(prometheus, "/api/v1/query_range", query))
        except (UpstreamFailure, ValueError) as exc:
            return {**_failed(exc), "series": []}
        values = [value for _, value in points]
        series.append(
            {
                "name": measure.name,
                "title": measure.title,
                "unit": measure.unit,
                "points": points,
                "latest": values[-1] if values else None,
                "min": min(values) if values else None,
                "max": max(values) if values else None,
            }
        )
    return {"status": "ok", "series": series}


def firing(alerts: Any) -> list[dict[str, Any]]:
    """The firing alerts of an `/api/v1/alerts` answer's data (pending ones are not yet alerts), the
    most severe first, then the longest firing."""
    if not isinstance(alerts, dict) or not isinstance(alerts.get("alerts"), list):
        raise ValueError("not an alerts answer")
    found = []
    for alert in alerts["alerts"]:
        if not isinstance(alert, dict) or alert.get("state") != "firing":
            continue
        labels, notes = alert.get("labels") or {}, alert.get("annotations") or {}
        found.append(
            {
                "name": str(labels.get("alertname", "")),
                "severity": str(labels.get("severity", "")),
                "summary": str(notes.get("summary", "")),
                "since": str(alert.get("activeAt", "")),
                "labels": {k: str(v) for k, v in labels.items() if k not in ("alertname", "severity")},
            }
        )
    return sorted(found, key=lambda a: (SEVERITY_ORDER.get(a["severity"], 9), a["since"], a["name"]))


async def alerts(prometheus: Upstream | None) -> dict[str, Any]:
    """`firing` (and which), `none`, or `unknown` when Prometheus is not configured or not answering."""
    if prometheus is None:
        return {"status": "unknown", "detail": "PROMETHEUS_URL is not set", "alerts": []}
    try:
        found = firing(await _prometheus(prometheus, "/api/v1/alerts", {}))
    except (UpstreamFailure, ValueError) as exc:
        return {"status": "unknown", "detail": _failed(exc)["detail"], "alerts": []}
    return {"status": "firing" if found else "none", "alerts": found}


def repair_words(outcome: Mapping[str, Any]) -> str:
    """What a repair did, for the notice and the log."""
    sale_id, found = outcome.get("sale_id"), outcome.get("found")
    if found is None:
        return f"Sale {sale_id} matches MySQL: nothing to repair."
    if found == "quarantined":
        return f"Sale {sale_id} was quarantined after a dead letter: republished from MySQL, which lifts it."
    done: Sequence[str] = [
        *(["rewound to MySQL's version"] if outcome.get("rewound") else []),
        *(["republished from MySQL"] if outcome.get("republished") else []),
        *(["deleted from the copy (MySQL has no such sale)"] if outcome.get("strays_deleted") else []),
    ]
    return f"Sale {sale_id} was {found} in the copy: {', '.join(done) or 'nothing could be done'}."
