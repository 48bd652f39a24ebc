"""How every process starts and stops: objects made at start-up are left out of later garbage
collections, in every served app and every worker; a worker closes what it built however its work ends."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from supply_common.serve import freeze_heap, run_worker
from supply_common.settings import ServiceSettings
from supply_common.web import create_app


class Built:
    def __init__(self) -> None:
        self.worked = False
        self.closed = False
        self.heap_frozen_before_work = False

    def close(self) -> None:
        self.closed = True


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


def test_a_worker_runs_on_what_it_built_after_start_up_and_closes_it_after() -> None:
    built = Built()

    async def work(on: Built) -> None:
        on.heap_frozen_before_work = gc.get_freeze_count() > 0
        on.worked = True

    run_worker("test", ServiceSettings(), 0, lambda: built, work)

    assert built.worked
    assert built.heap_frozen_before_work
    assert built.closed


def test_a_worker_closes_what_it_built_when_its_work_fails() -> None:
    built = Built()

    async def work(on: Built) -> None:
        raise RuntimeError("broker gone")

    with pytest.raises(RuntimeError, match="broker gone"):
        run_worker("test", ServiceSettings(), 0, lambda: built, work)

    assert built.closed
