"""Tracing on, every service as a process (the relay apart): a sale created through the gateway is one
trace from the gateway's request to the projector's apply, received over OTLP/HTTP, the relay's claim
and mark of the sale's batch in it; the log lines written on the way (auth's for the login, the
relay's for the published batch, the projector's for the applied batch) name the trace and span they
were written in; and the sale's journey names that trace, the partition and offset it was published
at, and when the copy applied it."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from supply_common.testing.deployment import Deployment, running
from supply_common.testing.fixtures import Servers
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
CLAIM, MARK = "mysql: claim outbox", "mysql: mark published"


def test_a_sale_created_through_the_gateway_is_one_trace_to_the_copy(
    servers: Servers, fresh_mysql_database: Callable[[str], str], tmp_path: Path
) -> None:
    with OtlpReceiver() as receiver:
        deployment = Deployment.create(
            servers,
            make_database=fresh_mysql_database,
            work_dir=tmp_path,
            extra_env={
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_TRACES_SAMPLER": "parentbased_always_on",
                "TRACE_UI_URL": "http://127.0.0.1:16686",
            },
        )
        # The relay's and the projector's lines for each batch are DEBUG.
        deployment.add_relay(OTEL_SERVICE_NAME="sales-writer-relay", LOG_LEVEL="DEBUG")
        deployment.processes["mongo-projector-consume"].env["LOG_LEVEL"] = "DEBUG"
        deployment.migrate()
        email, password = f"tracer.{secrets.token_hex(3)}@example.com", f"Tr-{secrets.token_urlsafe(12)}"
        deployment.create_user(email, "technical_worker", password)
        with running(deployment):
            gateway = deployment.url("gateway")
            login = httpx.post(f"{gateway}/api/auth/login", json={"email": email, "password": password}, timeout=30)
            token = login.json()["access_token"]
            login_request_id = login.headers["x-request-id"]
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
                trace = keyed_trace(spans, sale_id)
                return {s.service for s in trace} >= EVERY_PROCESS and any(s.name == MARK for s in trace)

            spans = receiver.wait_for(through_every_process, timeout_s=60)
            copy_has_it = _in_copy(servers.mongo_url, deployment, sale_id)
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
    # The relay stamps `published_at` once it reads the broker's acknowledgment, and the projector
    # stamps `applied_at` as its batch begins: the copy may take the record from the broker first.
    assert step["committed_at"] <= step["published_at"]
    assert step["committed_at"] <= step["applied_at"]

    # The relay's claim and mark of the sale's batch (the only row) are under its publish.
    (claim,) = [s for s in trace if s.name == CLAIM]
    (mark,) = [s for s in trace if s.name == MARK]
    for relayed in (claim, mark):
        assert (relayed.service, relayed.parent_span_id) == ("sales-writer-relay", publish.span_id), describe(trace)
        assert relayed.attributes["supply.batch_size"] == 1
    assert claim.end_ns <= mark.start_ns

    # Log lines name the trace and the span they were written in.
    (logged_in,) = _lines(tmp_path / "auth.log", "login succeeded")
    login_trace = [s for s in spans if s.trace_id == logged_in["trace_id"]]
    assert {(s.service, s.name) for s in login_trace} >= {("gateway", "POST /api/auth/login"), ("auth", "POST /login")}
    assert (logged_in["span_id"], logged_in["request_id"]) == (
        next(s.span_id for s in login_trace if s.service == "auth" and s.name == "POST /login"),
        login_request_id,
    )
    (relayed_line,) = _lines(tmp_path / "sales-writer-relay.log", "outbox batch published")
    assert (relayed_line["trace_id"], relayed_line["span_id"]) == (publish.trace_id, mark.span_id)
    applied_lines = [
        line for line in _lines(tmp_path / "mongo-projector-consume.log", "batch applied") if "trace_id" in line
    ]
    batch = next(s for s in trace if s.name == "mongo: apply batch")
    assert [(line["trace_id"], line["span_id"]) for line in applied_lines] == [(publish.trace_id, batch.span_id)]


def _lines(log: Path, message: str) -> list[dict[str, object]]:
    """The JSON lines of a process's log with that message."""
    found = []
    for text in log.read_text().splitlines():
        if text.startswith("{"):
            line = json.loads(text)
            if line.get("message") == message:
                found.append(line)
    return found


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
