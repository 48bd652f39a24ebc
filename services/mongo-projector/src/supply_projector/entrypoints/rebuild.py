"""`mongo-projector rebuild` wired: a replay of the topic of its own, the copy's collections."""

from __future__ import annotations

from datetime import UTC, datetime

from supply_common.kafka import ensure_topics, sales_topics
from supply_projector.adapters.copies import MongoCopies
from supply_projector.adapters.kafka import KafkaReplay
from supply_projector.config import ProjectorSettings
from supply_projector.service_layer import rebuild as use_case
from supply_projector.service_layer.rebuild import ProgressCallback, RebuildResult


async def rebuild(
    settings: ProjectorSettings,
    *,
    progress: ProgressCallback | None = None,
    grace_s: float | None = None,
    now: datetime | None = None,
) -> RebuildResult:
    """Into `sales_rebuild_<timestamp>`; `grace_s` defaults to a little over the readers' alias cache."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S%f")
    await ensure_topics(settings, topics=sales_topics)
    replay = KafkaReplay(settings, f"{settings.consumer_group}-rebuild-{stamp}")
    copies = MongoCopies(settings)
    await replay.start()
    try:
        return await use_case.rebuild(
            replay,
            copies,
            f"sales_rebuild_{stamp}",
            grace_s=grace_s if grace_s is not None else settings.active_cache_s + 2.0,
            batch_max_records=settings.batch_max_records,
            progress=progress,
        )
    finally:
        await replay.stop()
        copies.close()
