"""The replication panel's API against every service running: the consumer group and the dead letters
as the projector reads them from Kafka, and a sale's repair reaching the sales-writer's republish."""

from __future__ import annotations

import time
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient

from supply_common.testing.deployment import Deployment

from ..conftest import Accounts, Api

pytestmark = pytest.mark.integration


def drop_from_copy(deployment: Deployment, mongo_url: str, sale_id: str) -> None:
    """Lose the sale from the copy behind the projector's back (a restore gone wrong)."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_url)
    try:
        database = client[deployment.names["mongo_db"]]
        dropped = sum(
            database[name].delete_one({"_id": ObjectId(sale_id)}).deleted_count
            for name in database.list_collection_names()
        )
        assert dropped == 1
    finally:
        client.close()


def test_a_sale_lost_from_the_copy_is_republished_from_mysql_by_its_repair(
    api: Api, accounts: Accounts, deployment: Deployment, mongo_url: str
) -> None:
    sale_id, version = api.create_sale(accounts["customer"].email)
    api.wait_projected(sale_id, version)
    summary = api.call("GET", "/api/analytics/summary", "senior_management").json()
    drop_from_copy(deployment, mongo_url, sale_id)
    assert api.call("GET", f"/api/sales/{sale_id}", "technical_worker").status_code == 404

    refused = api.call("POST", f"/api/ops/sales/{sale_id}/repair", "senior_management")
    assert refused.status_code == 403
    repaired = api.call("POST", f"/api/ops/sales/{sale_id}/repair", "technical_worker")
    assert repaired.status_code == 200, repaired.text
    assert repaired.json() | {"notice": ""} == {
        "sale_id": sale_id,
        "found": "missing",
        "republished": 1,
        "strays_deleted": 0,
        "rewound": 0,
        "notice": "",
    }
    assert repaired.json()["notice"] == f"Sale {sale_id} was missing in the copy: republished from MySQL."
    assert api.wait_projected(sale_id, version)["sale"]["_id"] == sale_id
    # The rollups still counted the lost sale; the repair event added it again, and the repair
    # recounted its day and month from the copy: the sale is counted once.
    assert api.call("GET", "/api/analytics/summary", "senior_management").json() == summary

    again = api.call("POST", f"/api/ops/sales/{sale_id}/repair", "technical_worker").json()
    assert (again["found"], again["republished"]) == (None, 0)


def test_staff_see_the_consumer_group_and_the_dead_letters(api: Api, customer_sale: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        group = api.call("GET", "/api/ops/consumers", "senior_management").json()
        if group["status"] == "ok" and len(group["members"]) == 1 and group["state"] == "Stable":
            break
        assert time.monotonic() < deadline, group
        time.sleep(0.5)
    (member,) = group["members"]
    assert [p["partition"] for p in member["partitions"]] == [0, 1, 2]
    assert member["client_id"].startswith("mongo-projector-consume@")
    assert group["unassigned"] == []

    # Other tests of the session may have dead-lettered a poison record: the listing shows what the
    # topic holds, newest first, whatever that is.
    letters = api.call("GET", "/api/ops/dead-letters", "technical_worker").json()
    assert letters["status"] == "ok"
    assert letters["count"] == len(letters["items"])
    assert [letter["at"] for letter in letters["items"]] == sorted(
        (letter["at"] for letter in letters["items"]), reverse=True
    )
    hour = api.call("GET", "/api/ops/history", "technical_worker").json()
    assert hour["status"] == "not_configured"
    assert api.call("GET", "/api/ops/alerts", "technical_worker").json()["status"] == "unknown"
