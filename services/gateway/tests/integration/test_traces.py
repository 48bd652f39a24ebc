"""Tracing on, every service as a process (the relay apart): a sale created through the gateway is one
trace from the gateway's request to the projector's apply, received over OTLP/HTTP; and its journey
names that trace, the partition and offset it was published at, and when the copy applied it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from supply_common.testing.deployment import Deployment, running
from supply_common.testing.otlp import (
    OtlpReceiver,
    ReceivedSpan,
    assert_created_sale_is_one_trace,
    describe,
    keyed_trace,
)
from supply_common.testing.sales import sale_body

pytestmark = pytest.mark.integration

EVERY_PROCESS = {"gateway", "sales-writer", "sales-writer-relay", "mongo-projector"}


def test_a_sale_created_through_the_gateway_is_one_trace_to_the_copy(
    mysql_url: str,
    kafka_bootstrap: str,
    mongo_url: str,
    fresh_mysql_database: Callable[[str], str],
    tmp_path: Path,
) -> None:
    with OtlpReceiver() as receiver:
        deployment = Deployment.create(
            mysql_url=mysql_url,
            kafka_bootstrap=kafka_bootstrap,
            mongo_url=mongo_url,
            make_database=fresh_mysql_database,
            work_dir=tmp_path,
            extra_env={
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "TRACE_UI_URL": "http://127.0.0.1:16686",
            },
        )
        deployment.add_relay(OTEL_SERVICE_NAME="sales-writer-relay")
        deployment.migrate()
        email, password = f"tracer.{secrets.token_hex(3)}@example.com", f"Tr-{secrets.token_urlsafe(12)}"
        deployment.create_user(email, "technical_worker", password)
        with running(deployment):
            gateway = deployment.url("gateway")
            login = httpx.post(f"{gateway}/api/auth/login", json={"email": email, "password": password}, timeout=30)
            token = login.json()["access_token"]
            created = httpx.post(
                f"{gateway}/api/sales",
                json=sale_body(),
                # A client's traceparent is not continued: the public door starts the trace.
                headers={
                    "authorization": f"Bearer {token}",
                    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                },
                timeout=30,
            )
            assert created.status_code == 201, created.text
            sale_id = created.json()["id"]

            def through_every_process(spans: list[ReceivedSpan]) -> bool:
                return {s.service for s in keyed_trace(spans, sale_id)} >= EVERY_PROCESS

            spans = receiver.wait_for(through_every_process, timeout_s=60)
            copy_has_it = _in_copy(mongo_url, deployment, sale_id)
            journey = httpx.get(
                f"{gateway}/api/ops/sales/{sale_id}/journey", headers={"authorization": f"Bearer {token}"}, timeout=30
            ).json()

    trace = keyed_trace(spans, sale_id)
    print("\n" + describe(trace))
    assert copy_has_it
    publish = assert_created_sale_is_one_trace(trace, deployment.names["topic"])
    assert trace[0].trace_id != "0af7651916cd43dd8448eb211c80319c"
    by_id = {s.span_id: s for s in trace}
    assert by_id[publish.parent_span_id].name == "POST /sales"

    assert journey["stage"] == "applied", journey
    (step,) = journey["steps"]
    assert (step["event_type"], step["version"], step["applied"]) == ("sale.created", 1, True)
    assert step["trace_id"] == publish.trace_id
    assert step["trace_url"] == f"http://127.0.0.1:16686/trace/{publish.trace_id}"
    assert (step["partition"], step["offset"]) == (
        int(publish.attributes["messaging.destination.partition.id"]),
        publish.attributes["messaging.kafka.offset"],
    )
    assert step["committed_at"] <= step["published_at"] <= step["applied_at"]


def _in_copy(mongo_url: str, deployment: Deployment, sale_id: str) -> bool:
    from bson import ObjectId

    client: MongoClient[dict] = MongoClient(mongo_url)
    try:
        database = client[deployment.names["mongo_db"]]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(database[name].find_one({"_id": ObjectId(sale_id)}) for name in database.list_collection_names()):
                return True
            time.sleep(0.2)
        return False
    finally:
        client.close()
