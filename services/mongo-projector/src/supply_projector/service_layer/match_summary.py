"""How many sales a search matches and their total, at a cost bounded by the window's days and a cap,
never by the size of the match.

A search the rollups can answer (`SalesFilter.rollup_counters`) is counted exactly from them, once
they cover the whole copy: month and day buckets and the sales of a partial day at either end
(`analytics.window_counters`). Any other search, or any search while the rollups are being built,
reads the totals of at most `cap + 1` matching sales: up to `cap` the count and total are exact;
past it the answer is a lower bound, more than `cap` sales, with no total (part of one would be a
wrong figure).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from supply_projector.domain.queries import SalesFilter
from supply_projector.service_layer.analytics import Rollups, window_counters

Kind = Literal["exact_from_rollups", "exact_by_reading", "lower_bound"]


class CountedRollups(Rollups, Protocol):
    def complete(self) -> bool:
        """Whether the rollups cover the whole copy."""
        ...


class Matching(Protocol):
    def cents_of(self, match: dict[str, Any], limit: int) -> list[int]:
        """The totals in cents of at most `limit` sales of the match, in no particular order."""
        ...


@dataclass(frozen=True)
class MatchSummary:
    count: int
    """Exact, or with `kind` "lower_bound" the match has more than this many sales."""
    cents: int | None
    """The whole match's total; None when the count is a lower bound."""
    kind: Kind

    @property
    def more(self) -> bool:
        return self.kind == "lower_bound"


def summarise(search: SalesFilter, rollups: CountedRollups, sales: Matching, cap: int) -> MatchSummary:
    paths = search.rollup_counters()
    if paths is not None and rollups.complete():
        summed = window_counters(rollups, search.dates)
        return MatchSummary(summed.get(paths[0], 0), summed.get(paths[1], 0), "exact_from_rollups")
    found = sales.cents_of(search.filter(), cap + 1)
    if len(found) > cap:
        return MatchSummary(cap, None, "lower_bound")
    return MatchSummary(len(found), sum(found), "exact_by_reading")
