"""The projector's stored sales and their rollups in memory, as the analytics and the summary read
them (the `Rollups` port), remembering which sales it was asked for."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from supply_projector.domain.rollups import Counters, contribution


class StoredRollups:
    def __init__(self, documents: Sequence[dict[str, Any]]) -> None:
        self.documents = list(documents)
        self.buckets: dict[str, Counters] = {}
        for document in self.documents:
            for bucket, values in contribution(document).items():
                into = self.buckets.setdefault(bucket, {})
                for path, value in values.items():
                    into[path] = into.get(path, 0) + value
        self.built = True
        self.sales_read: list[tuple[datetime, datetime | None]] = []

    def complete(self) -> bool:
        return self.built

    def months(self, first: str | None, end: str | None) -> dict[str, Counters]:
        return {
            b: c
            for b, c in self.buckets.items()
            if b.startswith("m:") and (first is None or b >= first) and (end is None or b < end)
        }

    def days(self, buckets: Sequence[str]) -> dict[str, Counters]:
        return {bucket: self.buckets[bucket] for bucket in buckets if bucket in self.buckets}

    def sales_between(self, start: datetime, end: datetime | None) -> list[dict[str, Any]]:
        self.sales_read.append((start, end))
        return [d for d in self.documents if start <= d["saleDate"] and (end is None or d["saleDate"] < end)]
