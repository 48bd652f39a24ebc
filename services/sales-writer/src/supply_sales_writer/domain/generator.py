"""Synthetic sales that follow the public dataset's distributions, as `mongoexport` writes them.

Proportions are those of the 5,000-record dataset: Denver is the busiest store and San Diego the
quietest, most sales are in store, one in ten uses a coupon, one to ten lines of one to ten units,
prices per item in the ranges the dataset shows, dates from 2013 to 2017.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from bson import Decimal128, ObjectId
from bson.json_util import CANONICAL_JSON_OPTIONS, dumps

from supply_common.contract import ITEM_CATALOGUE, PURCHASE_METHODS, STORES

STORE_WEIGHTS: Final = dict(zip(STORES, (0.31, 0.227, 0.159, 0.135, 0.1, 0.069), strict=True))
METHOD_WEIGHTS: Final = dict(zip(PURCHASE_METHODS, (0.317, 0.119, 0.564), strict=True))
ITEM_WEIGHTS: Final = {
    "printer paper": 1.0,
    "notepad": 3.0,
    "pens": 2.0,
    "backpack": 1.0,
    "envelopes": 1.5,
    "binder": 2.0,
    "laptop": 0.7,
}
PRICE_RANGES: Final = {
    "printer paper": (5, 50),
    "notepad": (5, 40),
    "pens": (5, 75),
    "backpack": (20, 200),
    "envelopes": (5, 25),
    "binder": (10, 40),
    "laptop": (300, 1500),
}
SATISFACTION_WEIGHTS: Final = {1: 0.04, 2: 0.08, 3: 0.28, 4: 0.35, 5: 0.25}
COUPON_RATE: Final = 0.1
FIRST_DATE: Final = datetime(2013, 1, 1, tzinfo=UTC)
LAST_DATE: Final = datetime(2018, 1, 1, tzinfo=UTC)
_CONSONANTS: Final = "bcdfghjklmnprstvwz"
_VOWELS: Final = "aeiou"
_TLDS: Final = ("sv", "uy", "cg", "pe", "sh", "cd", "zm", "ki", "ne", "bg", "ls", "gu", "ar", "cx", "tf", "pa")


def _syllables(rng: random.Random, low: int, high: int) -> str:
    word = []
    for _ in range(rng.randint(low, high)):
        word.append(rng.choice(_CONSONANTS) + rng.choice(_VOWELS))
        if rng.random() < 0.3:
            word.append(rng.choice(_CONSONANTS))
    return "".join(word)


def _pick(rng: random.Random, weights: dict[Any, float]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def generate_document(rng: random.Random) -> dict[str, Any]:
    """One sale as a BSON-typed dataset document."""
    span_ms = int((LAST_DATE - FIRST_DATE).total_seconds() * 1000)
    sale_date = FIRST_DATE + timedelta(milliseconds=rng.randrange(span_ms))
    sale_id = ObjectId(struct.pack(">I", int(sale_date.timestamp())) + rng.randbytes(8))
    items = []
    for _ in range(rng.randint(1, 10)):
        name = _pick(rng, ITEM_WEIGHTS)
        low, high = PRICE_RANGES[name]
        cents = rng.randint(low * 100, high * 100)
        items.append(
            {
                "name": name,
                "tags": list(ITEM_CATALOGUE[name]),
                "price": Decimal128(Decimal(cents) / 100),
                "quantity": rng.randint(1, 10),
            }
        )
    return {
        "_id": sale_id,
        "saleDate": sale_date,
        "items": items,
        "storeLocation": _pick(rng, STORE_WEIGHTS),
        "customer": {
            "gender": rng.choice(("M", "F")),
            "age": rng.randint(16, 75),
            "email": f"{_syllables(rng, 1, 3)}@{_syllables(rng, 1, 3)}.{rng.choice(_TLDS)}",
            "satisfaction": _pick(rng, SATISFACTION_WEIGHTS),
        },
        "couponUsed": rng.random() < COUPON_RATE,
        "purchaseMethod": _pick(rng, METHOD_WEIGHTS),
    }


def generate_lines(count: int, seed: int | None = None) -> Iterator[str]:
    """`count` sales as canonical Extended JSON lines (mongoexport's default output)."""
    rng = random.Random(seed)
    for _ in range(count):
        yield dumps(generate_document(rng), json_options=CANONICAL_JSON_OPTIONS, separators=(",", ":"))
