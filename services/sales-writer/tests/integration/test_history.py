"""A sale's history: each version with who made it and when, written with the change itself."""

from __future__ import annotations

import pytest
from bson import ObjectId
from fastapi.testclient import TestClient

from supply_common.testing import SAMPLE_DATASET
from supply_sales_writer.adapters.schema import outbox, sale_history

from .conftest import EVERY_INSERT_MODE

pytestmark = [pytest.mark.integration, EVERY_INSERT_MODE]


def test_every_change_is_in_the_history_with_its_author_and_time(client: TestClient, kit) -> None:
    sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
    client.put(f"/sales/{sale_id}", json=kit.body(storeLocation="Denver"), headers=kit.worker | {"If-Match": '"1"'})
    client.delete(f"/sales/{sale_id}", headers=kit.worker | {"If-Match": '"2"'})

    answer = client.get(f"/sales/{sale_id}/history", headers=kit.manager)

    assert answer.status_code == 200
    versions = answer.json()["versions"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert [v["event_type"] for v in versions] == ["sale.deleted", "sale.updated", "sale.created"]
    assert {(v["actor"]["user_id"], v["actor"]["role"]) for v in versions} == {("worker-1", "technical_worker")}
    assert versions[0]["sale"] is None
    assert versions[1]["sale"]["storeLocation"] == "Denver"
    assert versions[2]["sale"]["storeLocation"] != "Denver"
    assert all(v["occurred_at"].endswith("Z") for v in versions)
    assert answer.json()["next_before"] is None
    events = kit.envelopes(kit.consume(3))
    assert [v["occurred_at"] for v in reversed(versions)] == [e["occurred_at"] for e in events]


def test_history_pages_go_back_from_newest(client: TestClient, kit) -> None:
    sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
    for version in range(1, 4):
        client.put(f"/sales/{sale_id}", json=kit.body(), headers=kit.worker | {"If-Match": f'"{version}"'})

    first = client.get(f"/sales/{sale_id}/history", params={"limit": 3}, headers=kit.worker).json()
    rest = client.get(
        f"/sales/{sale_id}/history", params={"limit": 3, "before": first["next_before"]}, headers=kit.worker
    ).json()

    assert [v["version"] for v in first["versions"]] == [4, 3, 2]
    assert [v["version"] for v in rest["versions"]] == [1]
    assert rest["next_before"] is None


def test_a_refused_change_leaves_no_history(client: TestClient, kit) -> None:
    sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
    stale = client.put(f"/sales/{sale_id}", json=kit.body(), headers=kit.worker | {"If-Match": '"7"'})

    assert stale.status_code == 412
    assert [v["version"] for v in client.get(f"/sales/{sale_id}/history", headers=kit.worker).json()["versions"]] == [1]


def test_imports_are_recorded_and_repairs_are_not(client: TestClient, kit) -> None:
    first_line = SAMPLE_DATASET.read_bytes().splitlines()[0]
    sale_id = str(ObjectId())
    line = first_line.replace(first_line[first_line.index(b'"$oid"') :].split(b"}")[0], f'"$oid": "{sale_id}"'.encode())
    imported = client.post("/sales/import", content=line, headers=kit.worker | {"content-type": "application/x-ndjson"})
    assert imported.json()["created"] == 1
    recorded, events = kit.count(sale_history), kit.count(outbox)

    kit.container.service.republish([sale_id])

    assert kit.count(outbox) == events + 1
    assert kit.count(sale_history) == recorded
    versions = client.get(f"/sales/{sale_id}/history", headers=kit.worker).json()["versions"]
    assert [(v["version"], v["event_type"], v["actor"]["user_id"]) for v in versions] == [
        (1, "sale.created", "worker-1")
    ]


def test_history_is_for_staff_and_unknown_sales_are_not_found(client: TestClient, kit) -> None:
    sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]

    assert client.get(f"/sales/{sale_id}/history", headers=kit.customer).status_code == 403
    assert client.get("/sales/65a1b2c3d4e5f60718290000/history", headers=kit.manager).status_code == 404
