"""The sales use cases against in-memory fakes of their ports: versions, events, idempotency, import."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from supply_common.contract import Actor, SaleBody, from_extended_json
from supply_common.testing import SAMPLE_DATASET
from supply_common.testing.sales import sale_body
from supply_sales_writer.domain.importing import Parsed, Rejected
from supply_sales_writer.domain.model import IdempotencyKeyReused, SaleNotFound, VersionMismatch
from supply_sales_writer.service_layer.services import SalesService

from .fakes import ConflictError, FakeDatabase, is_conflict

WORKER = Actor(user_id="worker-1", role="technical_worker")
LINES = SAMPLE_DATASET.read_text().splitlines()
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def body(**changes: object) -> SaleBody:
    return SaleBody.model_validate(sale_body(store="London", **changes))


@pytest.fixture
def database() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def service(database: FakeDatabase) -> SalesService:
    return SalesService(database.unit_of_work, clock=lambda: NOW, conflict=is_conflict)


def kinds(database: FakeDatabase) -> list[tuple[str, int]]:
    return [(json.loads(e.value)["event_type"], json.loads(e.value)["version"]) for e in database.tables.events]


def test_a_sale_is_created_at_version_1_changed_with_its_version_and_deleted_with_an_event_each(
    service: SalesService, database: FakeDatabase
) -> None:
    created = service.create(body(), WORKER).view
    sale_id = created["id"]
    assert created["version"] == 1
    assert service.update(sale_id, body(storeLocation="Denver"), frozenset({1}), WORKER)["version"] == 2
    assert service.get(sale_id).sale.storeLocation == "Denver"
    assert service.delete(sale_id, frozenset({2}), WORKER) == 3
    assert kinds(database) == [("sale.created", 1), ("sale.updated", 2), ("sale.deleted", 3)]
    with pytest.raises(SaleNotFound):
        service.get(sale_id)


def test_a_stale_version_changes_nothing(service: SalesService, database: FakeDatabase) -> None:
    sale_id = service.create(body(), WORKER).view["id"]
    with pytest.raises(VersionMismatch) as stale:
        service.update(sale_id, body(storeLocation="Denver"), frozenset({7}), WORKER)
    assert stale.value.current == 1
    assert service.get(sale_id).sale.storeLocation == "London"
    assert kinds(database) == [("sale.created", 1)]


def test_an_idempotency_key_replays_the_callers_own_create_and_refuses_another_body(service: SalesService) -> None:
    first = service.create(body(), WORKER, "key-1")
    again = service.create(body(), WORKER, "key-1")
    assert (again.replayed, again.view) == (True, first.view)
    with pytest.raises(IdempotencyKeyReused):
        service.create(body(storeLocation="Denver"), WORKER, "key-1")
    someone_else = service.create(body(), Actor(user_id="worker-2", role="technical_worker"), "key-1")
    assert not someone_else.replayed
    assert someone_else.view["id"] != first.view["id"]


def test_a_remembered_key_is_forgotten_after_its_time_to_live(database: FakeDatabase) -> None:
    now = [NOW]
    service = SalesService(database.unit_of_work, clock=lambda: now[0], idempotency_ttl=timedelta(hours=1))
    first = service.create(body(), WORKER, "key-1")
    now[0] += timedelta(hours=2)
    assert service.create(body(), WORKER, "key-1").view["id"] != first.view["id"]
    assert service.purge_idempotency_keys() == 0  # the new one is fresh; the old one was forgotten


def test_a_transaction_that_lost_to_another_is_run_again(service: SalesService, database: FakeDatabase) -> None:
    database.fail_commits = 2
    assert service.create(body(), WORKER).view["version"] == 1
    assert database.commits == 1
    database.fail_commits = 3
    with pytest.raises(ConflictError):
        service.create(body(), WORKER)
    assert len(database.tables.sales) == 1


def _records(*lines: str) -> list[Parsed | Rejected]:
    return [Parsed(number, from_extended_json(line)) for number, line in enumerate(lines, 1)]


def _changed(line: str) -> str:
    record = json.loads(line)
    record["couponUsed"] = not record["couponUsed"]
    return json.dumps(record)


@pytest.mark.parametrize(
    ("mode", "outcome", "version", "counts"),
    [
        ("fail", "refused", 1, (0, 0, 1, 0, 1)),
        ("skip", "skipped", 1, (0, 0, 1, 1, 0)),
        ("overwrite", "overwritten", 2, (0, 1, 1, 0, 0)),
    ],
)
def test_an_import_meeting_a_sale_with_other_content_does_what_its_mode_says(
    service: SalesService, database: FakeDatabase, mode: str, outcome: str, version: int, counts: tuple[int, ...]
) -> None:
    first = service.importer(WORKER)
    first.feed(_records(LINES[0], LINES[1]))
    assert first.finish().created == 2
    importer = service.importer(WORKER, on_existing=mode)  # type: ignore[arg-type]
    importer.feed(_records(LINES[0], _changed(LINES[1])))
    result = importer.finish()
    assert (result.created, result.updated, result.unchanged, result.skipped, result.rejected) == counts
    sale_id = json.loads(LINES[1])["_id"]["$oid"]
    assert result.existing == [{"line": 2, "id": sale_id, "version": version, "outcome": outcome}]
    assert service.get(sale_id).version == version
    assert len(database.tables.events) == 2 + (mode == "overwrite")


def test_an_import_of_a_deleted_id_creates_it_at_the_next_version(service: SalesService) -> None:
    importer = service.importer(WORKER)
    importer.feed(_records(LINES[0]))
    importer.finish()
    sale_id = json.loads(LINES[0])["_id"]["$oid"]
    service.delete(sale_id, frozenset({1}), WORKER)
    again = service.importer(WORKER)
    again.feed([*_records(LINES[0]), Rejected(2, "not valid JSON")])
    result = again.finish()
    assert (result.created, result.rejected, result.errors) == (1, 1, [{"line": 2, "reason": "not valid JSON"}])
    assert service.get(sale_id).version == 3


def test_republish_emits_repairs_of_current_and_deleted_sales_and_names_unknown_ids(
    service: SalesService, database: FakeDatabase
) -> None:
    kept = service.create(body(), WORKER).view["id"]
    gone = service.create(body(), WORKER).view["id"]
    service.delete(gone, frozenset({1}), WORKER)
    before = len(database.tables.events)
    assert service.republish([kept, gone, "0" * 24]) == (2, ["0" * 24])
    repairs = [json.loads(e.value) for e in database.tables.events[before:]]
    assert {(r["sale_id"], r["event_type"], r["version"]) for r in repairs} == {
        (kept, "sale.updated", 1),
        (gone, "sale.deleted", 2),
    }
    assert service.republish(None, batch=1) == (1, [])
    assert [d["id"] for d in service.digest(None, 10)] == [kept]
