"""How big and how long: the full run and the quick smoke run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Profile:
    """How big and how long one run is; the defaults are the full run's."""

    name: str
    reps: int = 5
    reps_service: int = 3
    reps_projector: int = 3
    duration_s: float = 5.0
    warmup_s: float = 1.0
    concurrency_raw: tuple[int, ...] = (1, 16)
    concurrency_http: tuple[int, ...] = (1, 16, 64)
    fractions: tuple[float, ...] = (0.25, 0.5, 0.75)
    produce_count: int = 100_000
    backlog: int = 100_000
    consumers: tuple[int, ...] = (1, 3)
    hashes: int = 20
    fault_run_s: float = 20.0
    fault_at_s: float = 5.0
    fault_down_s: float = 5.0
    converge_timeout_s: float = 120.0
    projector_budget_s: float = 300.0
    reads_sizes: tuple[int, ...] = (5_000, 100_000, 1_000_000)
    """Copy sizes of the reads row (row 10), in sales."""
    reads_samples: int = 100
    reads_budget_s: float = 10.0
    """Calls per read route and size: `reads_samples`, or fewer when they take longer than this."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


FULL = Profile(name="full")

# The smoke run: less of everything (the same concurrency_raw, consumers and fault_down_s).
QUICK = replace(
    FULL,
    name="quick",
    reps=2,
    reps_service=1,
    reps_projector=1,
    duration_s=1.2,
    warmup_s=0.2,
    concurrency_http=(1, 16),
    fractions=(0.5,),
    produce_count=5_000,
    backlog=5_000,
    hashes=4,
    fault_run_s=7.0,
    fault_at_s=1.0,
    converge_timeout_s=40.0,
    projector_budget_s=60.0,
    reads_sizes=(200, 1_000),
    reads_samples=3,
    reads_budget_s=0.5,
)
