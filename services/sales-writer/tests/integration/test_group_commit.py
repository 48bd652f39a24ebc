"""Concurrent creates through the group commit, against the real MariaDB: shared transactions, and
every caller still gets its own sale, its own event and its own error."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Sequence

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError

from supply_common.contract import Actor, SaleBody
from supply_sales_writer.adapters.schema import outbox, sales
from supply_sales_writer.bootstrap import NewSale
from supply_sales_writer.entrypoints.app import create_app
from supply_sales_writer.service_layer.group_commit import GroupCommit
from supply_sales_writer.service_layer.services import Created

from .conftest import EVERY_INSERT_MODE, Kit

pytestmark = [pytest.mark.integration, EVERY_INSERT_MODE]

CALLERS = 40


def _recording(kit: Kit, sizes: list[int]) -> GroupCommit[NewSale, Created]:
    def write(entries: Sequence[NewSale]) -> list[Created]:
        sizes.append(len(entries))
        return kit.container.service.create_many([(body, actor) for body, actor, _ in entries])

    return GroupCommit(write, split_on=(IntegrityError, DataError))


def test_concurrent_creates_share_transactions_and_each_caller_gets_its_own_sale(kit: Kit) -> None:
    sizes: list[int] = []
    app = create_app(dataclasses.replace(kit.container, creates=_recording(kit, sizes)))
    bodies = [
        kit.body(customer={"gender": "F", "age": age, "email": f"c{age}@example.org", "satisfaction": 3})
        for age in range(CALLERS)
    ]

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sales-writer") as client:
            return await asyncio.gather(*(client.post("/sales", json=body, headers=kit.worker) for body in bodies))

    responses = asyncio.run(post_all())

    assert [response.status_code for response in responses] == [201] * CALLERS
    answers = [response.json() for response in responses]
    assert [answer["sale"]["customer"]["age"] for answer in answers] == list(range(CALLERS))
    assert sum(sizes) == CALLERS
    assert max(sizes) > 1, sizes
    with kit.container.engine.connect() as connection:
        stored = dict(connection.execute(select(sales.c.id, sales.c.customer_age)).all())
        keys = Counter(key.decode() for key in connection.execute(select(outbox.c.msg_key)).scalars())
    assert stored == {answer["id"]: answer["sale"]["customer"]["age"] for answer in answers}
    assert keys == Counter({answer["id"]: 1 for answer in answers})  # one created event per sale


def test_a_sale_the_database_refuses_fails_alone(kit: Kit) -> None:
    sizes: list[int] = []
    group = _recording(kit, sizes)
    actor = Actor(user_id="worker-1", role="technical_worker")
    good = SaleBody.model_validate(kit.body())
    customer = good.customer.model_construct(**{**dict(good.customer), "gender": "x" * 40})  # longer than its column
    refused = good.model_construct(**{**dict(good), "customer": customer})

    async def submit_all() -> list[Created | BaseException]:
        first = asyncio.create_task(group.submit((good, actor, None)))
        await asyncio.sleep(0)  # the first transaction is under way; the rest queue behind it
        rest = [group.submit((refused if n == 2 else good, actor, None)) for n in range(5)]
        return await asyncio.gather(first, *rest, return_exceptions=True)

    results = asyncio.run(submit_all())

    assert isinstance(results[3], DataError)
    assert all(isinstance(result, Created) for n, result in enumerate(results) if n != 3)
    assert max(sizes) == 5  # the five queued went together first, then one by one
    assert kit.count(sales) == 5
    assert kit.count(outbox) == 5


def test_creates_with_an_idempotency_key_keep_their_own_transaction(kit: Kit) -> None:
    sizes: list[int] = []
    app = create_app(dataclasses.replace(kit.container, creates=_recording(kit, sizes)))

    async def post_twice() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        headers = {**kit.worker, "Idempotency-Key": "order-17"}
        async with httpx.AsyncClient(transport=transport, base_url="http://sales-writer") as client:
            return await asyncio.gather(*(client.post("/sales", json=kit.body(), headers=headers) for _ in range(2)))

    first, second = asyncio.run(post_twice())
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert sizes == []
    assert kit.count(sales) == 1
