"""Creates, updates and deletes: one envelope each on the topic, guarded by versions and keys."""

from __future__ import annotations

import json
import threading
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from supply_common.contract import SaleEvent
from supply_sales_writer.adapters.schema import idempotency_keys, outbox, sale_item_tags, sale_items, sales
from supply_sales_writer.entrypoints.app import create_app

from .conftest import EVERY_INSERT_MODE

pytestmark = [pytest.mark.integration, EVERY_INSERT_MODE]


def test_create_update_delete_each_put_exactly_one_envelope_on_the_topic(client: TestClient, kit) -> None:
    created = client.post("/sales", json=kit.body(), headers=kit.worker)
    assert created.status_code == 201
    sale_id = created.json()["id"]
    assert created.headers["ETag"] == '"1"'
    assert created.headers["Location"] == f"/sales/{sale_id}"
    first = created.json()["sale"]

    changed = kit.body(storeLocation="Denver", couponUsed=True)
    updated = client.put(f"/sales/{sale_id}", json=changed, headers=kit.worker | {"If-Match": '"1"'})
    assert updated.status_code == 200
    assert updated.headers["ETag"] == '"2"'
    second = client.get(f"/sales/{sale_id}", headers=kit.manager).json()
    assert second["version"] == 2
    assert second["sale"]["storeLocation"] == "Denver"

    deleted = client.delete(f"/sales/{sale_id}", headers=kit.worker | {"If-Match": '"2"'})
    assert deleted.status_code == 204
    assert client.get(f"/sales/{sale_id}", headers=kit.worker).status_code == 404

    records = kit.consume(3)
    assert len(records) == 3
    assert {record.key for record in records} == {sale_id.encode()}
    events = kit.envelopes(records)
    assert [e["version"] for e in events] == [1, 2, 3]
    assert [e["event_type"] for e in events] == ["sale.created", "sale.updated", "sale.deleted"]
    assert [e["data"] for e in events] == [first, second["sale"], None]
    assert first["items"][0] == {"name": "pens", "tags": ["writing", "office"], "price": "2.5", "quantity": 3}
    for event in events:
        assert event["sale_id"] == sale_id
        assert event["schema_version"] == 1
        assert event["actor"] == {"user_id": "worker-1", "role": "technical_worker"}
        assert event["repair"] is False
        assert event["occurred_at"].endswith("Z")
        datetime.fromisoformat(event["occurred_at"])
    assert len({e["event_id"] for e in events}) == 3
    assert all(SaleEvent.from_bytes(record.value) for record in records)


def test_stale_if_match_is_412_with_the_current_version_and_changes_nothing(client: TestClient, kit) -> None:
    sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
    client.put(f"/sales/{sale_id}", json=kit.body(storeLocation="Austin"), headers=kit.worker | {"If-Match": '"1"'})
    before = client.get(f"/sales/{sale_id}", headers=kit.worker).json()

    stale = client.put(
        f"/sales/{sale_id}", json=kit.body(storeLocation="Seattle"), headers=kit.worker | {"If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["current_version"] == 2
    assert stale.headers["ETag"] == '"2"'
    assert client.delete(f"/sales/{sale_id}", headers=kit.worker | {"If-Match": '"7"'}).status_code == 412

    assert client.get(f"/sales/{sale_id}", headers=kit.worker).json() == before
    assert kit.count(outbox) == 2


@pytest.mark.parametrize("method", ["put", "delete"])
def test_a_change_without_if_match_is_428_and_a_malformed_one_400(client: TestClient, kit, method: str) -> None:
    sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
    send = getattr(client, method)
    extra = {"json": kit.body(couponUsed=True)} if method == "put" else {}
    missing = send(f"/sales/{sale_id}", headers=kit.worker, **extra)
    assert missing.status_code == 428
    assert missing.json()["errors"][0]["field"] == "header.If-Match"
    for bad in ("*", '"abc"', '"0"'):
        malformed = send(f"/sales/{sale_id}", headers=kit.worker | {"If-Match": bad}, **extra)
        assert malformed.status_code == 400, bad
    assert client.get(f"/sales/{sale_id}", headers=kit.worker).json()["version"] == 1
    assert kit.count(outbox) == 1


def test_weak_etags_never_match_and_listed_ones_do(client: TestClient, kit) -> None:
    sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
    before = client.get(f"/sales/{sale_id}", headers=kit.worker).json()
    for method in ("put", "delete"):
        extra = {"json": kit.body(couponUsed=True)} if method == "put" else {}
        weak = getattr(client, method)(f"/sales/{sale_id}", headers=kit.worker | {"If-Match": 'W/"1"'}, **extra)
        assert weak.status_code == 412, method
        assert weak.headers["content-type"] == "application/problem+json"
        assert weak.json()["current_version"] == 1
    assert client.get(f"/sales/{sale_id}", headers=kit.worker).json() == before
    assert kit.count(outbox) == 1
    listed = client.delete(f"/sales/{sale_id}", headers=kit.worker | {"If-Match": 'W/"1", "1", "2"'})
    assert listed.status_code == 204


def test_changes_to_an_unknown_sale_are_404(client: TestClient, kit) -> None:
    missing = "5bd761dcae323e45a93ccfe8"
    assert client.get(f"/sales/{missing}", headers=kit.worker).status_code == 404
    assert client.put(f"/sales/{missing}", json=kit.body(), headers=kit.worker | {"If-Match": '"1"'}).status_code == 404
    assert client.delete(f"/sales/{missing}", headers=kit.worker | {"If-Match": '"1"'}).status_code == 404
    assert client.get("/sales/not-an-id", headers=kit.worker).status_code == 422


def test_a_repeated_idempotency_key_creates_one_sale_and_replays_the_first_result(client: TestClient, kit) -> None:
    headers = kit.worker | {"Idempotency-Key": "order-7781"}
    first = client.post("/sales", json=kit.body(), headers=headers)
    again = client.post("/sales", json=kit.body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert kit.count() == 1
    assert kit.count(outbox) == 1

    other = client.post("/sales", json=kit.body(couponUsed=True), headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert kit.count() == 1


def test_concurrent_requests_with_one_idempotency_key_create_one_sale(client: TestClient, kit) -> None:
    headers = kit.worker | {"Idempotency-Key": "burst-1"}
    answers: list[dict] = []

    def send() -> None:
        response = client.post("/sales", json=kit.body(), headers=headers)
        assert response.status_code == 201
        answers.append(response.json())

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 8
    assert len({answer["id"] for answer in answers}) == 1
    assert kit.count() == 1
    assert kit.count(idempotency_keys) == 1


def test_an_expired_idempotency_key_is_forgotten(client: TestClient, kit) -> None:
    headers = kit.worker | {"Idempotency-Key": "old-key"}
    first = client.post("/sales", json=kit.body(), headers=headers).json()["id"]
    kit.execute("UPDATE idempotency_keys SET created_at = created_at - INTERVAL 25 HOUR")
    second = client.post("/sales", json=kit.body(couponUsed=True), headers=headers)
    assert second.status_code == 201
    assert second.json()["id"] != first
    assert kit.container.service.purge_idempotency_keys() == 0


def test_roles_are_checked_by_the_service_itself(client: TestClient, kit) -> None:
    assert client.post("/sales", json=kit.body()).status_code == 401
    assert client.post("/sales", json=kit.body(), headers=kit.customer).status_code == 403
    assert client.post("/sales", json=kit.body(), headers=kit.manager).status_code == 403
    assert client.post("/sales/import", content=b"", headers=kit.manager).status_code == 403
    sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
    assert client.get(f"/sales/{sale_id}", headers=kit.manager).status_code == 200
    assert client.get(f"/sales/{sale_id}", headers=kit.customer).status_code == 403
    assert (
        client.put(f"/sales/{sale_id}", json=kit.body(), headers=kit.manager | {"If-Match": '"1"'}).status_code == 403
    )
    assert kit.count() == 1


def test_a_write_whose_outbox_row_fails_leaves_nothing_behind(kit) -> None:
    kit.execute("ALTER TABLE outbox ADD CONSTRAINT no_rows CHECK (topic = 'nowhere')")
    with TestClient(create_app(kit.container), raise_server_exceptions=False) as client:
        response = client.post("/sales", json=kit.body(), headers=kit.worker)
    assert response.status_code == 500
    assert (kit.count(), kit.count(sale_items), kit.count(sale_item_tags), kit.count(outbox)) == (0, 0, 0, 0)


def test_the_openapi_schema_shows_the_validation_rules(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["components"]["schemas"]["SaleBody"]
    assert body["additionalProperties"] is False
    assert body["properties"]["items"]["minItems"] == 1
    assert body["properties"]["items"]["maxItems"] == 100
    customer = schema["components"]["schemas"]["Customer"]
    assert customer["properties"]["satisfaction"]["maximum"] == 5
    assert customer["properties"]["age"]["maximum"] == 120
    text = json.dumps(schema)
    assert '"In store"' in text
    assert "/sales/import" in schema["paths"]


def test_a_write_sends_only_what_the_insert_mode_allows(client: TestClient, kit) -> None:
    """`separate` is how MySQL gets its writes: never a `BEGIN NOT ATOMIC` block (MariaDB only)."""
    sent = kit.statements()
    sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
    assert client.put(f"/sales/{sale_id}", json=kit.body(), headers=kit.worker | {"If-Match": '"1"'}).status_code == 200
    keyed = kit.worker | {"Idempotency-Key": "mode-1"}
    assert client.post("/sales", json=kit.body(), headers=keyed).status_code == 201
    blocks = [statement for statement in sent if statement.startswith("BEGIN NOT ATOMIC")]
    assert bool(blocks) == (kit.settings.mysql_insert_mode == "compound")
    assert kit.count() == 2


def test_the_customer_email_is_kept_as_account_addresses_are(client: TestClient, kit) -> None:
    """A customer's token carries their account address in lower case; the sale must hold the same."""
    typed = {"gender": "F", "age": 40, "email": "RV.Someone@Example.com", "satisfaction": 5}
    created = client.post("/sales", json=kit.body(customer=typed), headers=kit.worker)
    keyed = client.post("/sales", json=kit.body(customer=typed), headers=kit.worker | {"Idempotency-Key": "case-1"})
    assert created.status_code == keyed.status_code == 201
    sale_id = created.json()["id"]
    assert created.json()["sale"]["customer"]["email"] == "rv.someone@example.com"
    assert client.get(f"/sales/{sale_id}", headers=kit.worker).json()["sale"]["customer"]["email"] == (
        "rv.someone@example.com"
    )
    with kit.container.engine.connect() as connection:
        stored = connection.execute(select(sales.c.customer_email).order_by(sales.c.id)).scalars().all()
    assert stored == ["rv.someone@example.com"] * 2
    events = kit.envelopes(kit.consume(2))
    assert {e["data"]["customer"]["email"] for e in events} == {"rv.someone@example.com"}


OTHER_WORKER = {"X-User-Id": "worker-2", "X-User-Role": "technical_worker", "X-User-Email": "v@example.com"}


def test_an_idempotency_key_is_the_callers_own(client: TestClient, kit) -> None:
    key = {"Idempotency-Key": "order-1"}
    mine = client.post("/sales", json=kit.body(), headers=kit.worker | key)
    theirs = client.post("/sales", json=kit.body(couponUsed=True), headers=OTHER_WORKER | key)
    assert mine.status_code == theirs.status_code == 201  # not "reused": the other user's key is another key
    assert theirs.json()["id"] != mine.json()["id"]
    assert client.post("/sales", json=kit.body(), headers=kit.worker | key).json() == mine.json()
    assert client.post("/sales", json=kit.body(couponUsed=True), headers=OTHER_WORKER | key).json() == theirs.json()
    reused = client.post("/sales", json=kit.body(), headers=OTHER_WORKER | key)
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert kit.count() == 2
    assert kit.count(idempotency_keys) == 2


def test_a_key_remembered_before_keys_were_per_user_still_replays_for_its_own_request(client: TestClient, kit) -> None:
    key = {"Idempotency-Key": "order-2"}
    first = client.post("/sales", json=kit.body(), headers=kit.worker | key).json()
    kit.execute("UPDATE idempotency_keys SET user_id = ''")  # as migration 0003 leaves older rows
    assert client.post("/sales", json=kit.body(), headers=kit.worker | key).json() == first
    other = client.post("/sales", json=kit.body(), headers=OTHER_WORKER | key)
    assert other.status_code == 201  # the old row is not the other user's: their fingerprint differs
    assert other.json()["id"] != first["id"]
    assert kit.count() == 2
