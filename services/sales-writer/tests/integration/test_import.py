"""Import of mongoexport output over HTTP and from the command line."""

from __future__ import annotations

import json

import pytest
from bson.json_util import RELAXED_JSON_OPTIONS, dumps, loads
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from supply_common.contract import from_extended_json, sale_hash
from supply_common.testing import SAMPLE_DATASET
from supply_sales_writer.adapters.schema import outbox
from supply_sales_writer.entrypoints.cli import app as cli

from .conftest import EVERY_INSERT_MODE

pytestmark = [pytest.mark.integration, EVERY_INSERT_MODE]
WORKER = {"X-User-Id": "worker-1", "X-User-Role": "technical_worker"}


def _import(client: TestClient, content: bytes, **params: str) -> dict:
    response = client.post("/sales/import", content=content, headers=WORKER, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def counts(created: int = 0, updated: int = 0, unchanged: int = 0, skipped: int = 0, rejected: int = 0) -> dict:
    """The whole answer of an import that met no error and no existing sale with other content."""
    return {
        "created": created,
        "updated": updated,
        "unchanged": unchanged,
        "skipped": skipped,
        "rejected": rejected,
        "errors": [],
        "existing": [],
    }


def test_importing_the_sample_gives_7_created_then_7_unchanged(client: TestClient, kit) -> None:
    content = SAMPLE_DATASET.read_bytes()
    assert _import(client, content) == counts(created=7)
    assert _import(client, content) == counts(unchanged=7)
    assert kit.count() == 7
    assert kit.count(outbox) == 7

    events = kit.envelopes(kit.consume(7))
    originals = {sale.id: sale for sale in map(from_extended_json, content.decode().splitlines())}
    assert {e["sale_id"] for e in events} == set(originals)
    assert all(e["version"] == 1 and e["event_type"] == "sale.created" for e in events)
    for event in events:
        assert sale_hash(from_extended_json(json.dumps(event["data"]))) == sale_hash(originals[event["sale_id"]])
    first = client.get("/sales/5bd761dcae323e45a93ccfe8", headers=WORKER).json()
    assert first["sale"]["items"][0] == {
        "name": "printer paper",
        "tags": ["office", "stationary"],
        "price": "40.01",
        "quantity": 2,
    }


def test_a_json_array_in_relaxed_extended_json_is_the_same_content(client: TestClient, kit) -> None:
    _import(client, SAMPLE_DATASET.read_bytes())
    documents = [loads(line) for line in SAMPLE_DATASET.read_text().splitlines()]
    relaxed = ("[" + ",\n".join(dumps(doc, json_options=RELAXED_JSON_OPTIONS) for doc in documents) + "]").encode()
    assert _import(client, relaxed)["unchanged"] == 7


def test_with_overwrite_changed_records_get_a_new_version_and_bad_ones_are_reported_by_line(
    client: TestClient, kit
) -> None:
    lines = SAMPLE_DATASET.read_text().splitlines()
    _import(client, "\n".join(lines).encode())
    changed = json.loads(lines[2])
    changed["couponUsed"] = not changed["couponUsed"]
    bad_price = json.loads(lines[3])
    bad_price["items"][0]["price"] = {"$numberDecimal": "-1"}
    content = "\n".join([lines[0], json.dumps(changed), "{not json", json.dumps(bad_price), "", lines[4]]).encode()
    result = _import(client, content, on_existing="overwrite")
    assert (result["created"], result["updated"], result["unchanged"], result["rejected"]) == (0, 1, 2, 2)
    assert [error["line"] for error in result["errors"]] == [3, 4]
    assert "items.0.price" in result["errors"][1]["reason"]
    sale_id = changed["_id"]["$oid"]
    assert result["existing"] == [{"line": 2, "id": sale_id, "version": 2, "outcome": "overwritten"}]
    assert client.get(f"/sales/{sale_id}", headers=WORKER).json()["version"] == 2
    assert kit.count(outbox) == 8


def _changed_sample() -> tuple[bytes, str, str]:
    """The sample with its third sale's content changed; that sale's id and original line."""
    lines = SAMPLE_DATASET.read_text().splitlines()
    changed = json.loads(lines[2])
    changed["couponUsed"] = not changed["couponUsed"]
    return "\n".join([*lines[:2], json.dumps(changed), *lines[3:]]).encode(), changed["_id"]["$oid"], lines[2]


@pytest.mark.parametrize("params", [{}, {"on_existing": "fail"}], ids=["default", "fail"])
def test_by_default_an_existing_sale_with_other_content_is_refused_by_line_and_kept(
    client: TestClient, kit, params: dict[str, str]
) -> None:
    _import(client, SAMPLE_DATASET.read_bytes())
    content, sale_id, original = _changed_sample()
    result = _import(client, content, **params)
    assert (result["created"], result["updated"], result["unchanged"], result["skipped"], result["rejected"]) == (
        0,
        0,
        6,
        0,
        1,
    )
    assert result["existing"] == [{"line": 3, "id": sale_id, "version": 1, "outcome": "refused"}]
    assert [error["line"] for error in result["errors"]] == [3]
    assert "on_existing=overwrite" in result["errors"][0]["reason"]
    kept = client.get(f"/sales/{sale_id}", headers=WORKER).json()
    assert kept["version"] == 1
    assert sale_hash(from_extended_json(json.dumps(kept["sale"]))) == sale_hash(from_extended_json(original))
    assert kit.count(outbox) == 7


def test_with_skip_an_existing_sale_with_other_content_is_left_and_reported(client: TestClient, kit) -> None:
    _import(client, SAMPLE_DATASET.read_bytes())
    content, sale_id, _ = _changed_sample()
    result = _import(client, content, on_existing="skip")
    assert (result["created"], result["updated"], result["unchanged"], result["skipped"], result["rejected"]) == (
        0,
        0,
        6,
        1,
        0,
    )
    assert result["existing"] == [{"line": 3, "id": sale_id, "version": 1, "outcome": "skipped"}]
    assert result["errors"] == []
    assert client.get(f"/sales/{sale_id}", headers=WORKER).json()["version"] == 1
    assert kit.count(outbox) == 7


def test_every_mode_creates_unknown_ids_and_leaves_equal_content_unchanged(client: TestClient) -> None:
    lines = SAMPLE_DATASET.read_text().splitlines()
    for mode, (start, end) in zip(("fail", "skip", "overwrite"), ((0, 2), (2, 4), (4, 7)), strict=True):
        fresh = _import(client, "\n".join(lines[start:end]).encode(), on_existing=mode)
        assert fresh == counts(created=end - start), mode
        again = _import(client, "\n".join(lines[start:end]).encode(), on_existing=mode)
        assert again == counts(unchanged=end - start), mode


def test_an_unknown_mode_is_a_422_naming_the_parameter(client: TestClient, kit) -> None:
    response = client.post(
        "/sales/import", content=SAMPLE_DATASET.read_bytes(), headers=WORKER, params={"on_existing": "merge"}
    )
    assert response.status_code == 422
    assert "on_existing" in response.text
    assert kit.count() == 0


def test_a_deleted_sale_imported_again_continues_its_versions(client: TestClient, kit) -> None:
    _import(client, SAMPLE_DATASET.read_bytes())
    sale_id = "5bd761dcae323e45a93ccfe8"
    assert client.delete(f"/sales/{sale_id}", headers=WORKER | {"If-Match": '"1"'}).status_code == 204
    assert _import(client, SAMPLE_DATASET.read_bytes()) == counts(created=1, unchanged=6)
    assert client.get(f"/sales/{sale_id}", headers=WORKER).json()["version"] == 3
    versions = [e["version"] for e in kit.envelopes(kit.consume(9)) if e["sale_id"] == sale_id]
    assert versions == [1, 2, 3]


def test_a_broken_json_array_keeps_the_records_before_the_fault(client: TestClient, kit) -> None:
    records = [json.loads(line) for line in SAMPLE_DATASET.read_text().splitlines()[:2]]
    content = ("[" + ",".join(json.dumps(r) for r in records) + ", {broken").encode()
    result = _import(client, content)
    assert (result["created"], result["rejected"]) == (2, 1)
    assert result["errors"][0]["line"] == 3


def test_the_command_line_generates_and_imports_a_file(kit, tmp_path, monkeypatch) -> None:
    for name, value in {
        "MYSQL_URL": kit.settings.mysql_url.get_secret_value(),
        "MYSQL_DATABASE": kit.settings.mysql_database,
        "KAFKA_BOOTSTRAP_SERVERS": kit.settings.kafka_bootstrap_servers,
        "SALES_TOPIC": kit.settings.sales_topic,
    }.items():
        monkeypatch.setenv(name, value)
    target = tmp_path / "sales.json"
    runner = CliRunner()
    assert runner.invoke(cli, ["generate", "1200", "--out", str(target), "--seed", "3"]).exit_code == 0
    assert len(target.read_text().splitlines()) == 1200
    first = runner.invoke(cli, ["import", str(target)])
    assert first.exit_code == 0, first.output
    assert "created 1200, updated 0, unchanged 0, rejected 0, skipped 0" in first.output
    second = runner.invoke(cli, ["import", str(target)])
    assert "created 0, updated 0, unchanged 1200, rejected 0, skipped 0" in second.output
    assert kit.count() == 1200
    assert kit.count(outbox) == 1200

    lines = target.read_text().splitlines()
    changed = json.loads(lines[0])
    changed["couponUsed"] = not changed["couponUsed"]
    edited = tmp_path / "edited.json"
    edited.write_text("\n".join([json.dumps(changed), *lines[1:]]) + "\n")
    refused = runner.invoke(cli, ["import", str(edited)])
    assert "created 0, updated 0, unchanged 1199, rejected 1, skipped 0" in refused.output
    assert "rejected line 1" in refused.output
    skipped = runner.invoke(cli, ["import", str(edited), "--on-existing", "skip"])
    assert "created 0, updated 0, unchanged 1199, rejected 0, skipped 1" in skipped.output
    overwritten = runner.invoke(cli, ["import", str(edited), "--on-existing", "overwrite"])
    assert "created 0, updated 1, unchanged 1199, rejected 0, skipped 0" in overwritten.output
    assert kit.count(outbox) == 1201
