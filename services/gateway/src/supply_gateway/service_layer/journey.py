"""A sale's journey from the writer's outbox to the copy, in one view: for each change the outbox still
holds, when it was committed, when and where (partition, offset) it was published, whether the copy
has applied it (and when, for the version the copy holds), and a link to its trace."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _ms_between(start: Any, end: Any) -> float | None:
    if not (isinstance(start, str) and isinstance(end, str)):
        return None
    try:
        began, ended = datetime.fromisoformat(start), datetime.fromisoformat(end)
    except ValueError:
        return None
    return round((ended - began).total_seconds() * 1000, 1)


def trace_link(trace_ui_url: str, trace_id: Any) -> str | None:
    """The trace viewer's page of a trace (Jaeger's `/trace/{id}`), when a viewer is configured."""
    if not trace_ui_url or not isinstance(trace_id, str) or not trace_id:
        return None
    return f"{trace_ui_url.rstrip('/')}/trace/{trace_id}"


def compose_journey(
    sale_id: str, writer: Any, copy: Any, errors: list[dict[str, str]], trace_ui_url: str = ""
) -> dict[str, Any]:
    """`writer`: the sales-writer's `/internal/sales/{id}/journey`; `copy`: the projector's
    `/sales/{id}/applied`; either None when it did not answer (then named in `errors`)."""
    writer = writer if isinstance(writer, dict) else {}
    copy = copy if isinstance(copy, dict) else {}
    copy_version = copy.get("version")
    deleted_version = copy.get("deleted_version")
    reached = max((v for v in (copy_version, deleted_version) if isinstance(v, int)), default=None)
    steps = []
    for event in writer.get("events") or []:
        if not isinstance(event, dict):
            continue
        version = event.get("version")
        applied_at = None
        if version is not None and version == copy_version:
            applied_at = copy.get("applied_at")
        elif version is not None and version == deleted_version:
            applied_at = copy.get("deleted_applied_at")
        applied = reached is not None and isinstance(version, int) and reached >= version
        published = event.get("published_at")
        steps.append(
            {
                "version": version,
                "event_type": event.get("event_type"),
                "repair": bool(event.get("repair")),
                "committed_at": event.get("committed_at"),
                "published_at": published,
                "partition": event.get("partition"),
                "offset": event.get("offset"),
                "applied": applied,
                "applied_at": applied_at,
                "publish_ms": _ms_between(event.get("committed_at"), published),
                "apply_ms": _ms_between(published, applied_at),
                "trace_id": event.get("trace_id"),
                "trace_url": trace_link(trace_ui_url, event.get("trace_id")),
            }
        )
    last = steps[-1] if steps else None
    if last is None:
        stage = "unknown"
    elif last["applied"]:
        stage = "applied"
    elif last["published_at"]:
        stage = "published"
    else:
        stage = "committed"
    return {
        "sale_id": sale_id,
        "stage": stage,
        "version": writer.get("version"),
        "deleted_version": writer.get("deleted_version"),
        "copy_state": {
            "version": copy_version,
            "applied_at": copy.get("applied_at"),
            "deleted_version": deleted_version,
            "deleted_applied_at": copy.get("deleted_applied_at"),
        }
        if copy
        else None,
        "steps": steps,
        "outbox_retention_s": writer.get("outbox_retention_s"),
        "errors": errors,
    }


def nothing_known(journey: dict[str, Any]) -> bool:
    """Neither the writer nor the copy knows the sale (and both answered)."""
    copy = journey["copy_state"] or {}
    return (
        not journey["errors"]
        and not journey["steps"]
        and journey["version"] is None
        and journey["deleted_version"] is None
        and copy.get("version") is None
        and copy.get("deleted_version") is None
    )
