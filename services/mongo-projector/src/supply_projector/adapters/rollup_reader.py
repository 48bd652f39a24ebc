"""The rollups as analytics read them: the month documents of a window, the days of its edge months,
and the sales of the partial days at its edges (the layout is in `adapters.rollups`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pymongo.database import Database

from supply_projector.adapters.rollups import BUILT, MONTHS, document_id, rollup_collections
from supply_projector.domain.rollups import Counters


def _parsed(text: Any) -> Any:
    return json.loads(text) if text else {}


class RollupReader:
    """The buckets analytics read, and the sales of the partial days at a window's edges."""

    def __init__(self, database: Database[dict[str, Any]], active: Callable[[], str]) -> None:
        self.database = database
        self.active = active

    def complete(self) -> bool:
        """Whether the rollups cover the whole copy: built for it (by the consumer's start or a
        rebuild) and kept since in the same batches as the sales."""
        found = self.database[rollup_collections(self.active()).months].find_one({"_id": BUILT}, {"state": 1})
        return found is not None and found.get("state") == "built"

    def months(self, first: str | None, end: str | None) -> dict[str, Counters]:
        """Month buckets from `first` up to (not including) `end`; None: unbounded."""
        span = {"$gte": first or MONTHS["$gte"], "$lt": end or MONTHS["$lt"]}
        found = self.database[rollup_collections(self.active()).months].find({"_id": span}, {"m": 1})
        return {str(document["_id"]): _parsed(document.get("m")) for document in found}

    def days(self, buckets: Sequence[str]) -> dict[str, Counters]:
        """Day buckets by id (absent ones left out), from the days documents of their months."""
        if not buckets:
            return {}
        wanted = set(buckets)
        units = sorted({document_id(b) for b in wanted})
        found = {}
        for document in self.database[rollup_collections(self.active()).days].find({"_id": {"$in": units}}, {"d": 1}):
            found.update({b: c for b, c in _parsed(document.get("d")).items() if b in wanted})
        return found

    def sales_between(self, start: datetime, end: datetime | None) -> list[dict[str, Any]]:
        """The documents of the sales dated in `[start, end)` (part of one day)."""
        bounds: dict[str, Any] = {"$gte": start}
        if end is not None:
            bounds["$lt"] = end
        return list(self.database[self.active()].find({"saleDate": bounds}))
