"""One view of replication health from the writer's outbox stats and the projector's freshness."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def compose_replication(outbox: Any, freshness: Any, errors: list[dict[str, str]]) -> dict[str, Any]:
    partitions: list[dict[str, Any]] = []
    dlq_count = quarantined = None
    if isinstance(freshness, dict):
        partitions = list(freshness.get("partitions") or [])
        dlq_count = freshness.get("dlq_count")
        quarantined = freshness.get("quarantined")
    elif isinstance(freshness, list):
        partitions = freshness
    lag = sum(int(p.get("lag") or 0) for p in partitions if isinstance(p, dict)) if freshness is not None else None
    occurred = [str(p["last_occurred_at"]) for p in partitions if isinstance(p, dict) and p.get("last_occurred_at")]
    last_occurred_at = max(occurred) if occurred else None
    age_s = None
    if last_occurred_at:
        try:
            parsed = datetime.fromisoformat(str(last_occurred_at).replace("Z", "+00:00"))
            age_s = round(max(0.0, (datetime.now(UTC) - parsed).total_seconds()), 3)
        except ValueError:
            age_s = None
    if errors:
        status = "partial" if len(errors) < 2 else "unknown"
    elif isinstance(outbox, dict) and outbox.get("relay") not in (None, "ok"):
        status = "degraded"
    else:
        status = "ok"
    return {
        "status": status,
        "outbox": outbox,
        "consumer": None if freshness is None else {"lag": lag, "partitions": partitions},
        "freshness": {"last_applied_occurred_at": last_occurred_at, "age_s": age_s},
        "dlq_count": dlq_count,
        "quarantined": quarantined,
        "errors": errors,
    }
