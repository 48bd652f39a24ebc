"""Objects made at start-up are left out of later garbage collections, in every served app."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from supply_common.serve import freeze_heap
from supply_common.web import create_app


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_freeze_heap_moves_what_is_alive_out_of_collections() -> None:
    kept = [[index] for index in range(1000)]  # lists are tracked by the collector
    assert gc.get_freeze_count() == 0
    freeze_heap()
    assert gc.get_freeze_count() >= len(kept)


def test_an_app_freezes_the_heap_once_its_start_up_is_done() -> None:
    app = create_app(service="test", title="test")
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 0
        assert client.get("/livez").status_code == 200
