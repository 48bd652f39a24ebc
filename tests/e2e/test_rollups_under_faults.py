"""The analytics rollups under faults: the projector SIGKILLed mid-batch, again and again, while sales
are created, edited (moved to other stores, days, methods, items) and deleted through the gateway;
once the copy equals MySQL, every day and month bucket equals the same figures computed from
MySQL's rows, and `reconcile` finds no bucket to repair."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC
from decimal import Decimal
from typing import Any

import pytest
from conftest import Scenario
from sqlalchemy import Engine, text

from supply_projector.adapters.rollups import counters_of, rollup_collections
from supply_projector.domain.rollups import Buckets, add, contribution

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def mysql_buckets(engine: Engine) -> Buckets:
    """Every sale in MySQL as the projector would count it, summed per day and month."""
    with engine.connect() as connection:
        sales = connection.execute(
            text("SELECT id, sale_date, store_location, purchase_method, coupon_used, customer_satisfaction FROM sales")
        ).all()
        items = connection.execute(
            text("SELECT sale_id, position, name, price, quantity FROM sale_items ORDER BY sale_id, position")
        ).all()
        tags = connection.execute(
            text("SELECT sale_id, item_position, tag FROM sale_item_tags ORDER BY sale_id, item_position, position")
        ).all()
    tags_of: dict[tuple[str, int], list[str]] = defaultdict(list)
    for sale_id, position, tag in tags:
        tags_of[(sale_id, position)].append(tag)
    lines: dict[str, list[tuple[int, str, Decimal, int]]] = defaultdict(list)
    for sale_id, position, name, price, quantity in items:
        lines[sale_id].append((position, name, Decimal(price), int(quantity)))
    summed: Buckets = {}
    for sale_id, sale_date, store, method, coupon, satisfaction in sales:
        document: dict[str, Any] = {
            "saleDate": sale_date.replace(tzinfo=UTC),
            "storeLocation": store,
            "purchaseMethod": method,
            "couponUsed": bool(coupon),
            "customer": {"satisfaction": int(satisfaction)},
            "items": [{"tags": tags_of[(sale_id, position)]} for position, *_ in lines[sale_id]],
            "_supply": {
                "total_cents": cents(sum((price * quantity for _, _, price, quantity in lines[sale_id]), Decimal(0))),
                "item_count": sum(quantity for *_, quantity in lines[sale_id]),
                "lines": [
                    {"name": name, "quantity": quantity, "revenue_cents": cents(price * quantity)}
                    for _, name, price, quantity in lines[sale_id]
                ],
            },
        }
        add(summed, contribution(document))
    return summed


def stored_buckets(scenario: Scenario) -> Buckets:
    copy = scenario.copy()
    found: Buckets = {}
    for name in rollup_collections(copy.name):
        for document in copy.database[name].find({}):
            if str(document["_id"]).startswith(("d:", "m:")):
                counters = counters_of(document)
                if counters:
                    found[str(document["_id"])] = counters
    return found


def test_rollups_equal_mysql_after_the_projector_is_killed_mid_batch_under_edits_and_deletes(
    scenario: Scenario,
) -> None:
    load = scenario.load(writes=400, rate_per_s=40).start()
    for _ in range(4):
        time.sleep(2)
        scenario.faults.kill("mongo-projector-consume")
        time.sleep(0.5)
        scenario.faults.restart("mongo-projector-consume")
    tally = load.wait(120)
    assert tally.writes > 0
    scenario.converge(tally)

    deadline = time.monotonic() + 30
    while (stored := stored_buckets(scenario)) != (expected := mysql_buckets(scenario.engine)):
        assert time.monotonic() < deadline, (
            f"{len(set(stored) ^ set(expected))} buckets only on one side, "
            f"{sum(1 for b in set(stored) & set(expected) if stored[b] != expected[b])} differing"
        )
        time.sleep(0.5)
    assert expected, "the load left no sale to count"

    deployment = scenario.deployment
    output = deployment.run(["mongo-projector", "reconcile"], env={"SALES_WRITER_URL": deployment.url("sales-writer")})
    assert "rollups: buckets" in output, output
    assert "differing 0," in output, output
