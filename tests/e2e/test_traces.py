"""One sale, one trace: a create through the gateway is followed by a single trace holding spans of
the gateway, the sales-writer, the relay (a process of its own here) and the projector, exported over
real OTLP/HTTP to a receiver this test runs (no collector or Jaeger needed)."""

from __future__ import annotations

import time

import httpx
import pytest
from bson import ObjectId
from conftest import Launch

from supply_common.testing.otlp import (
    OtlpReceiver,
    ReceivedSpan,
    assert_created_sale_is_one_trace,
    describe,
    keyed_trace,
)
from supply_common.testing.sales import sale_body

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

EVERY_PROCESS = {"gateway", "sales-writer", "sales-writer-relay", "mongo-projector"}


def test_a_created_sale_is_one_trace_from_the_gateway_to_the_copy(launch: Launch) -> None:
    with OtlpReceiver() as receiver:
        scenario = launch(
            extra_env={
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_TRACES_SAMPLER": "parentbased_always_on",  # this test's sale must be in a sampled trace
            },
            start=False,
        )
        deployment = scenario.deployment
        deployment.add_relay(OTEL_SERVICE_NAME="sales-writer-relay")
        deployment.start_all()
        scenario.mark("started")

        created = httpx.post(
            f"{scenario.gateway}/api/sales", json=sale_body(), headers=scenario.tokens().headers(), timeout=10
        )
        assert created.status_code == 201, created.text
        sale_id = created.json()["id"]
        deadline = time.monotonic() + 60
        while scenario.copy().find_one({"_id": ObjectId(sale_id)}) is None:
            assert time.monotonic() < deadline, "the sale never reached the copy\n" + deployment.logs()
            time.sleep(0.2)

        def through_every_process(spans: list[ReceivedSpan]) -> bool:
            return {s.service for s in keyed_trace(spans, sale_id)} >= EVERY_PROCESS

        spans = receiver.wait_for(through_every_process, timeout_s=30)

    trace = keyed_trace(spans, sale_id)
    print("\n" + describe(trace))
    assert_created_sale_is_one_trace(trace, deployment.names["topic"])
