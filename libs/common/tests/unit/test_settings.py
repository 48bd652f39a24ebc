"""Settings every service shares."""

from __future__ import annotations

import os

import pytest

from supply_common.settings import ServiceSettings, auto_workers


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 1), (3, 2), (5, 4), (64, 4)])
def test_auto_workers_leave_a_core_to_the_rest_of_the_machine(monkeypatch, cores: int, workers: int) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert auto_workers() == workers
    monkeypatch.setenv("WORKERS", "auto")
    assert ServiceSettings().workers == workers


@pytest.mark.parametrize("value", ["0", "65", "many"])
def test_other_worker_counts_are_refused(monkeypatch, value: str) -> None:
    monkeypatch.setenv("WORKERS", value)
    with pytest.raises(ValueError, match="workers"):
        ServiceSettings()
