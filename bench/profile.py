"""How big and how long: the full run and the quick smoke run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Profile:
    name: str
    reps: int
    reps_service: int
    reps_projector: int
    duration_s: float
    warmup_s: float
    concurrency_raw: tuple[int, ...]
    concurrency_http: tuple[int, ...]
    fractions: tuple[float, ...]
    produce_count: int
    backlog: int
    consumers: tuple[int, ...]
    hashes: int
    fault_run_s: float
    fault_at_s: float
    fault_down_s: float
    converge_timeout_s: float
    projector_budget_s: float
    reads_sizes: tuple[int, ...]
    """Copy sizes of the reads row (row 10), in sales."""
    reads_samples: int
    reads_budget_s: float
    """Calls per read route and size: `reads_samples`, or fewer when they take longer than this."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


FULL = Profile(
    name="full",
    reps=5,
    reps_service=3,
    reps_projector=3,
    duration_s=5.0,
    warmup_s=1.0,
    concurrency_raw=(1, 16),
    concurrency_http=(1, 16, 64),
    fractions=(0.25, 0.5, 0.75),
    produce_count=100_000,
    backlog=100_000,
    consumers=(1, 3),
    hashes=20,
    fault_run_s=20.0,
    fault_at_s=5.0,
    fault_down_s=5.0,
    converge_timeout_s=120.0,
    projector_budget_s=300.0,
    reads_sizes=(5_000, 100_000, 1_000_000),
    reads_samples=100,
    reads_budget_s=10.0,
)

QUICK = Profile(
    name="quick",
    reps=2,
    reps_service=1,
    reps_projector=1,
    duration_s=1.2,
    warmup_s=0.2,
    concurrency_raw=(1, 16),
    concurrency_http=(1, 16),
    fractions=(0.5,),
    produce_count=5_000,
    backlog=5_000,
    consumers=(1, 3),
    hashes=4,
    fault_run_s=7.0,
    fault_at_s=1.0,
    fault_down_s=5.0,
    converge_timeout_s=40.0,
    projector_budget_s=60.0,
    reads_sizes=(200, 1_000),
    reads_samples=3,
    reads_budget_s=0.5,
)
