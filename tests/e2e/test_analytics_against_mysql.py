"""Every analytics answer equals the same figure computed in Python from MySQL's rows.

The sales go in through the gateway and the real sales-writer: the sample dataset imported, more
created, then several updated (moved to other stores, months and methods; items changed), some
deleted, and one deleted sale imported again. Once the projector has applied it all, each analytics
route (whole range and date windows) is compared with what SELECTs on `sales` and `sale_items` give.
Its sibling in services/mongo-projector/tests/integration/test_read_api.py computes the expected
figures from the events instead; this one needs the sales-writer, so it lives here.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
import pytest
from bson import ObjectId
from conftest import Launch, Scenario
from convergence import wait_for_convergence
from load import Tokens, random_sale
from sqlalchemy import Engine, text

from supply_common.contract import PURCHASE_METHODS, STORES, decimal_text, rfc3339
from supply_common.testing import SAMPLE_DATASET

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

EARLIEST = datetime(1000, 1, 1)
LATEST = datetime(9999, 12, 31)
Window = tuple[datetime | None, datetime | None]


@dataclass
class Line:
    name: str
    price: Decimal
    quantity: int


@dataclass
class Row:
    sale_date: datetime
    store: str
    method: str
    coupon: bool
    satisfaction: int
    lines: list[Line]

    @property
    def total(self) -> Decimal:
        return sum((line.price * line.quantity for line in self.lines), Decimal(0))


def mysql_rows(engine: Engine, window: Window) -> list[Row]:
    """The sales in `[date_from, date_to)` with their items, straight from MySQL's tables."""
    bounds = {"date_from": window[0] or EARLIEST, "date_to": window[1] or LATEST}
    for key, value in bounds.items():
        bounds[key] = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    with engine.connect() as connection:
        sales = connection.execute(
            text(
                "SELECT id, sale_date, store_location, purchase_method, coupon_used, customer_satisfaction"
                " FROM sales WHERE sale_date >= :date_from AND sale_date < :date_to"
            ),
            bounds,
        ).all()
        items = connection.execute(
            text(
                "SELECT i.sale_id, i.name, i.price, i.quantity FROM sale_items i JOIN sales s ON s.id = i.sale_id"
                " WHERE s.sale_date >= :date_from AND s.sale_date < :date_to"
            ),
            bounds,
        ).all()
    lines: dict[str, list[Line]] = defaultdict(list)
    for sale_id, name, price, quantity in items:
        lines[sale_id].append(Line(name, Decimal(price), int(quantity)))
    return [
        Row(sale_date.replace(tzinfo=UTC), store, method, bool(coupon), int(score), lines[sale_id])
        for sale_id, sale_date, store, method, coupon, score in sales
    ]


def expected_figures(rows: list[Row]) -> dict[str, Any]:
    """What each analytics route should answer for these sales (keys are the routes' paths)."""
    revenue = sum((row.total for row in rows), Decimal(0))
    count = len(rows)
    mean = (revenue / count).quantize(Decimal("0.01"), ROUND_HALF_EVEN) if count else Decimal(0)
    figures: dict[str, Any] = {
        "summary": {
            "revenue": decimal_text(revenue),
            "sales": count,
            "items": sum(line.quantity for row in rows for line in row.lines),
            "mean_basket": str(mean),
        }
    }
    for path, key in (
        ("by-store", lambda row: row.store),
        ("by-month", lambda row: row.sale_date.strftime("%Y-%m")),
        ("by-method", lambda row: row.method),
    ):
        groups: dict[str, list[Row]] = defaultdict(list)
        for row in rows:
            groups[key(row)].append(row)
        figures[path] = [
            {"key": name, "revenue": decimal_text(sum((r.total for r in group), Decimal(0))), "sales": len(group)}
            for name, group in sorted(groups.items())
        ]
    item_revenue: dict[str, Decimal] = defaultdict(Decimal)
    quantity: Counter[str] = Counter()
    for row in rows:
        for line in row.lines:
            item_revenue[line.name] += line.price * line.quantity
            quantity[line.name] += line.quantity
    ranked = {
        "revenue": sorted(item_revenue, key=lambda n: (-item_revenue[n], -quantity[n], n)),
        "quantity": sorted(item_revenue, key=lambda n: (-quantity[n], -item_revenue[n], n)),
    }
    for by, names in ranked.items():
        rows_of = [{"name": n, "revenue": decimal_text(item_revenue[n]), "quantity": quantity[n]} for n in names]
        figures[f"top-items?by={by}&limit=100"] = rows_of
        figures[f"top-items?by={by}&limit=3"] = rows_of[:3]
    scores = Counter(row.satisfaction for row in rows)
    figures["satisfaction"] = [{"score": score, "sales": scores.get(score, 0)} for score in range(1, 6)]
    used = sum(1 for row in rows if row.coupon)
    rate = (Decimal(used) / count).quantize(Decimal("0.0001"), ROUND_HALF_EVEN) if count else Decimal(0)
    figures["coupons"] = {"used": used, "total": count, "rate": float(rate)}
    return figures


def analytics_answers(client: httpx.Client, tokens: Tokens, window: Window, paths: list[str]) -> dict[str, Any]:
    dates = {name: rfc3339(value) for name, value in zip(("date_from", "date_to"), window, strict=True) if value}
    answers: dict[str, Any] = {}
    for path in paths:
        route, _, query = path.partition("?")
        params = dict(pair.split("=") for pair in query.split("&")) if query else {}
        response = client.get(f"/api/analytics/{route}", params={**params, **dates}, headers=tokens.headers())
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        answers[path] = response.json()
    return answers


class Writer:
    """Writes through the gateway as a technical worker; edits and deletes carry the current `If-Match`."""

    def __init__(self, client: httpx.Client, tokens: Tokens) -> None:
        self.client = client
        self.tokens = tokens

    def import_lines(self, lines: list[str]) -> dict[str, Any]:
        response = self.client.post(
            "/api/sales/import",
            content=("\n".join(lines) + "\n").encode(),
            headers={**self.tokens.headers(), "content-type": "application/x-ndjson"},
        )
        assert response.status_code == 200, response.text
        counts: dict[str, Any] = response.json()
        return counts

    def create(self, body: dict[str, Any]) -> str:
        response = self.client.post("/api/sales", json=body, headers=self.tokens.headers())
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def current(self, sale_id: str) -> tuple[dict[str, Any], str]:
        response = self.client.get(f"/api/sales/{sale_id}/current", headers=self.tokens.headers())
        assert response.status_code == 200, response.text
        body = response.json()["sale"]
        body.pop("_id")
        return body, response.headers["etag"]

    def update(self, sale_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        body, etag = self.current(sale_id)
        change(body)
        response = self.client.put(
            f"/api/sales/{sale_id}", json=body, headers={**self.tokens.headers(), "if-match": etag}
        )
        assert response.status_code == 200, response.text

    def delete(self, sale_id: str) -> None:
        _, etag = self.current(sale_id)
        response = self.client.delete(f"/api/sales/{sale_id}", headers={**self.tokens.headers(), "if-match": etag})
        assert response.status_code == 204, response.text


def changes(rng: random.Random) -> Callable[[dict[str, Any]], None]:
    """A random edit of the fields analytics group or sum by."""

    def change(body: dict[str, Any]) -> None:
        body["storeLocation"] = rng.choice([s for s in STORES if s != body["storeLocation"]])
        body["purchaseMethod"] = rng.choice([m for m in PURCHASE_METHODS if m != body["purchaseMethod"]])
        body["couponUsed"] = not body["couponUsed"]
        body["customer"]["satisfaction"] = body["customer"]["satisfaction"] % 5 + 1
        body["saleDate"] = f"2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T08:30:00.125Z"
        body["items"][0]["quantity"] += rng.randint(1, 4)
        if len(body["items"]) > 1:
            body["items"].pop()
        body["items"].append(
            {
                "name": "stapler",
                "tags": ["office"],
                "price": f"{rng.randint(100, 4999) / 100:.2f}",
                "quantity": rng.randint(1, 6),
            }
        )

    return change


def write_history(scenario: Scenario, rng: random.Random) -> tuple[set[str], set[str], str]:
    """The writes this test makes; returns the ids that should be in the copy, the deleted ones and
    the one deleted and imported again."""
    samples = [line for line in SAMPLE_DATASET.read_text().splitlines() if line.strip()]
    sample_ids = [json.loads(line)["_id"]["$oid"] for line in samples]
    with httpx.Client(base_url=scenario.gateway, timeout=30) as client:
        writer = Writer(client, scenario.tokens())
        assert writer.import_lines(samples)["created"] == len(samples)
        created = [writer.create(random_sale(rng)) for _ in range(24)]
        everyone = sample_ids + created
        edited = rng.sample(everyone, 10)
        for sale_id in edited + edited[:3]:
            writer.update(sale_id, changes(rng))
        deleted = {*rng.sample(created, 4), sample_ids[1], sample_ids[4]}
        for sale_id in sorted(deleted):
            writer.delete(sale_id)
        again = json.loads(samples[4])
        again["storeLocation"] = "Austin"
        again["items"][0]["quantity"] = {"$numberInt": "11"}
        assert writer.import_lines([json.dumps(again)])["created"] == 1
    deleted.discard(sample_ids[4])
    return set(everyone) - deleted, deleted, sample_ids[4]


def test_analytics_equal_the_figures_computed_from_mysql_rows(launch: Launch) -> None:
    scenario = launch()
    present, deleted, reborn = write_history(scenario, random.Random(20240611))

    report = wait_for_convergence(scenario.engine, scenario.copy())
    assert report.converged, report.summary() + "\n" + scenario.deployment.logs()
    with scenario.engine.connect() as connection:
        assert set(connection.execute(text("SELECT id FROM sales")).scalars()) == present
        version = connection.execute(text("SELECT version FROM sales WHERE id = :id"), {"id": reborn}).scalar_one()
    assert version >= 3
    assert scenario.copy().find_one({"_id": ObjectId(reborn)})["storeLocation"] == "Austin"
    assert not deleted & {str(d["_id"]) for d in scenario.copy().find({}, {"_id": 1})}

    email, password = f"boss.{secrets.token_hex(4)}@example.com", f"E2e-{secrets.token_urlsafe(12)}"
    scenario.deployment.create_user(email, "senior_management", password)
    manager = Tokens(scenario.gateway, email, password)

    with scenario.engine.connect() as connection:
        dates = sorted(d.replace(tzinfo=UTC) for d in connection.execute(text("SELECT sale_date FROM sales")).scalars())
    windows: list[Window] = [(None, None), (dates[4], dates[-5]), (dates[-6], None), (None, dates[3])]
    with httpx.Client(base_url=scenario.gateway, timeout=30) as client:
        # The rollups follow the copy: the projector adds its batches to them at most a second apart
        # (ROLLUP_FLUSH_INTERVAL_S), and at once when it has nothing more to read.
        whole = expected_figures(mysql_rows(scenario.engine, windows[0]))
        deadline = time.monotonic() + 30
        while analytics_answers(client, manager, windows[0], list(whole)) != whole and time.monotonic() < deadline:
            time.sleep(0.2)
        for window in windows:
            expected = expected_figures(mysql_rows(scenario.engine, window))
            assert expected["summary"]["sales"] > 0
            answers = analytics_answers(client, manager, window, list(expected))
            for path, figure in expected.items():
                assert answers[path] == figure, f"{path} over {window}"
