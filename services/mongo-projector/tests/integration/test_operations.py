"""What operators see of the consumer group and the DLQ, through the read API, against real Kafka."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from supply_common.testing.tokens import ISSUER_FOR_TESTS as ISSUER
from supply_projector.bootstrap import Container, bootstrap

from .conftest import consuming, produce, versions_of, wait_for
from .events import SAMPLES, sale_event

pytestmark = pytest.mark.integration
STAFF = ISSUER.bearer("technical_worker", sub="t", email="t@example.com")
CUSTOMER = ISSUER.bearer("customer", sub="c", email="c@example.com")


async def members(client: httpx.AsyncClient) -> list[dict]:
    response = await client.get("/consumers", headers=STAFF)
    assert response.status_code == 200, response.text
    return list(response.json()["members"])


async def test_a_second_consumer_takes_half_the_partitions_and_the_group_lists_both(
    container: Container, client: httpx.AsyncClient
) -> None:
    await produce(container.settings, [sale_event(sale, 1, "create") for sale in SAMPLES])
    second = bootstrap(container.settings)
    try:
        async with consuming(container):
            await wait_for(lambda: len(versions_of(container)) == len(SAMPLES), what="the first consumer's copy")
            alone = await members(client)
            assert len(alone) == 1
            assert [p["partition"] for p in alone[0]["partitions"]] == list(range(6))

            async with consuming(second):
                found: list[dict] = []

                async def both_hold_some() -> bool:
                    found[:] = await members(client)
                    return len(found) == 2 and all(m["partitions"] for m in found)

                for _ in range(150):
                    if await both_hold_some():
                        break
                    await asyncio.sleep(0.2)
                assert len(found) == 2, found
                first_held, second_held = ({p["partition"] for p in m["partitions"]} for m in found)
                assert first_held.isdisjoint(second_held)
                assert first_held | second_held == set(range(6))
                assert len({m["member_id"] for m in found}) == 2
                assert all(m["client_id"].startswith("mongo-projector-consume@") and m["host"] for m in found)
                assert all(p["lag"] == 0 for m in found for p in m["partitions"])
    finally:
        second.close()
    assert (await client.get("/consumers", headers=CUSTOMER)).status_code == 403


async def test_dead_letters_are_listed_newest_first_with_their_headers(
    container: Container, client: httpx.AsyncClient
) -> None:
    poisoned = SAMPLES[0]
    await produce(
        container.settings,
        [
            sale_event(poisoned, 1, "create"),
            (poisoned.id.encode(), b'{"event_type": "sale.updated", "version": "two"}'),
            (b"not-a-sale", b"not json"),
        ],
    )
    async with consuming(container):
        await wait_for(lambda: versions_of(container).get(poisoned.id) == 1, what="the good event")
        listed: dict = {}
        for _ in range(100):
            listed = (await client.get("/dead-letters", headers=STAFF)).json()
            if len(listed.get("items", [])) == 2:
                break
            await asyncio.sleep(0.2)
    assert listed["count"] == 2
    assert {item["key"] for item in listed["items"]} == {poisoned.id, "not-a-sale"}
    assert [item["at"] for item in listed["items"]] == sorted((item["at"] for item in listed["items"]), reverse=True)
    for item in listed["items"]:
        assert {"error.class", "error.message", "source.topic", "source.offset", "dlq.time"} <= set(item["headers"])
        assert item["headers"]["source.topic"] == container.settings.sales_topic
    one = (await client.get("/dead-letters", params={"limit": 1}, headers=STAFF)).json()
    assert one["items"] == listed["items"][:1]
    assert (await client.get("/dead-letters", headers=CUSTOMER)).status_code == 403
