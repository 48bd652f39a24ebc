"""The analytics rollups under faults: the projector SIGKILLed mid-batch, again and again, while sales
are created, edited (moved to other stores, days, methods, items) and deleted through the gateway;
once the copy equals MySQL, every day and month bucket equals the same figures computed from
MySQL's rows, and `reconcile` finds no bucket to repair."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from conftest import Scenario
from convergence import mysql_sales
from sqlalchemy import Engine

from supply_projector.adapters.rollups import stored_units
from supply_projector.domain.rollups import Buckets, add, contribution

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def mysql_buckets(engine: Engine) -> Buckets:
    """Every sale in MySQL (rebuilt from its rows) as the projector would count it, summed per day and
    month; the precomputed figures are worked out here again from the sale, not taken from the copy."""
    summed: Buckets = {}
    for _, sale in mysql_sales(engine).values():
        document: dict[str, Any] = {
            "saleDate": sale.saleDate,
            "storeLocation": sale.storeLocation,
            "purchaseMethod": sale.purchaseMethod,
            "couponUsed": sale.couponUsed,
            "customer": {"satisfaction": sale.customer.satisfaction},
            "items": [
                {"name": item.name, "tags": list(item.tags), "price": item.price, "quantity": item.quantity}
                for item in sale.items
            ],
            "_supply": {
                "total_cents": cents(sum((item.price * item.quantity for item in sale.items), Decimal(0))),
                "item_count": sum(item.quantity for item in sale.items),
            },
        }
        add(summed, contribution(document))
    return summed


def stored_buckets(scenario: Scenario) -> Buckets:
    copy = scenario.copy()
    found: Buckets = {}
    for unit in stored_units(copy.database, copy.name):
        found.update({bucket: counters for bucket, counters in unit.buckets.items() if counters})
    return found


def differences(stored: Buckets, expected: Buckets, limit: int = 10) -> str:
    """Which buckets differ, and by what (stored minus MySQL's figures)."""
    differing = sorted(b for b in set(stored) | set(expected) if stored.get(b) != expected.get(b))
    lines = [f"{len(differing)} buckets differ from MySQL's figures (stored minus expected):"]
    for bucket in differing[:limit]:
        off = add({bucket: dict(stored.get(bucket, {}))}, {bucket: expected.get(bucket, {})}, -1)
        lines.append(f"  {bucket}: {off.get(bucket, {})}")
    return "\n".join(lines)


def test_rollups_equal_mysql_after_the_projector_is_killed_mid_batch_under_edits_and_deletes(
    scenario: Scenario,
) -> None:
    load = scenario.load(writes=400, rate_per_s=40).start()
    scenario.faults.kill_repeatedly("mongo-projector-consume", 4)
    tally = load.wait(120)
    assert tally.writes > 0
    scenario.converge(tally)

    deadline = time.monotonic() + 30
    while (stored := stored_buckets(scenario)) != (expected := mysql_buckets(scenario.engine)):
        assert time.monotonic() < deadline, differences(stored, expected)
        time.sleep(0.5)
    assert expected, "the load left no sale to count"

    deployment = scenario.deployment
    output = deployment.run(["mongo-projector", "reconcile"], env=deployment.operator_env())
    assert "rollups: buckets" in output, output
    assert "differing 0," in output, output
