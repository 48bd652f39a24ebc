"""Sale bodies for tests, scripts and the bench: request bodies of `POST /sales` in canonical JSON
(decimals as strings, RFC 3339 dates), valid under the contract unless a caller changes them to be not."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from supply_common.contract import ITEM_CATALOGUE, PURCHASE_METHODS, STORES, decimal_text, rfc3339

FIRST_DATE = datetime(2013, 1, 1, tzinfo=UTC)
SPAN_MS = 5 * 365 * 24 * 3600 * 1000


def sale_body(
    *,
    email: str = "buyer@example.com",
    store: str = "Denver",
    price: str = "2.50",
    quantity: int = 3,
    **fields: Any,
) -> dict[str, Any]:
    """One sale of `quantity` pens at `price`, bought by `email` at `store`; `fields` replace whole
    top-level fields (`saleDate`, `items`, `customer`, `couponUsed`, `purchaseMethod`)."""
    body: dict[str, Any] = {
        "saleDate": "2024-05-01T10:00:00.000Z",
        "items": [{"name": "pens", "tags": ["office", "writing"], "price": price, "quantity": quantity}],
        "storeLocation": store,
        "customer": {"gender": "F", "age": 40, "email": email, "satisfaction": 4},
        "couponUsed": False,
        "purchaseMethod": "Online",
    }
    body.update(fields)
    return body


def random_sale_body(rng: random.Random, *, customers: int | None = None) -> dict[str, Any]:
    """A sale drawn from `rng` over the dataset's stores, methods and item catalogue: one to five
    items, dates over five years from 2013. The buyer is one of `customers` addresses when given (so
    that customers buy more than once), else almost always a new one. The same seed gives the same
    sales."""
    names = list(ITEM_CATALOGUE)
    items = []
    for _ in range(rng.randint(1, 5)):
        name = rng.choice(names)
        items.append(
            {
                "name": name,
                "tags": list(ITEM_CATALOGUE[name]),
                "price": decimal_text(Decimal(rng.randint(500, 20_000)) / 100),
                "quantity": rng.randint(1, 10),
            }
        )
    sale_date = rfc3339(FIRST_DATE + timedelta(milliseconds=rng.randrange(SPAN_MS)))
    store = rng.choice(STORES)
    gender, age = rng.choice(("M", "F")), rng.randint(16, 75)
    buyer = f"customer{rng.randint(1, customers)}" if customers else f"buyer{rng.randrange(10**8)}"
    return {
        "saleDate": sale_date,
        "items": items,
        "storeLocation": store,
        "customer": {"gender": gender, "age": age, "email": f"{buyer}@example.com", "satisfaction": rng.randint(1, 5)},
        "couponUsed": rng.random() < 0.1,
        "purchaseMethod": rng.choice(PURCHASE_METHODS),
    }
