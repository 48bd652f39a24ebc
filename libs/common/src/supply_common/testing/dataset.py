"""Generated sales that follow the public Supply Store dataset's shape and spread, the same on every
machine for the same seed.

The spread is the 5,000-record dataset's: six stores from Denver (the busiest) to San Diego (the
quietest), most sales in store, one in ten with a coupon, one to ten lines of one to ten units, each
item with its tags and within its price range, customers of either gender aged 16 to 75 mostly
satisfied, dates from 2013 through 2017. Ids are drawn from the seed too, so a generated file
imported twice is the same sales twice.

Sales come out in canonical JSON (the contract's `canonical` form) and can be written as the
`mongoexport` lines the dataset ships as. By default every sale has its own customer, as in the
dataset; `customers=N` draws them from N returning customers instead, a few of whom buy often.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from supply_common.contract import ITEM_CATALOGUE, PURCHASE_METHODS, STORES, rfc3339

DEMO_SEED: Final = 2013
DEMO_COUNT: Final = 5_000

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
"""Whole dollars, both ends included; prices are drawn in cents between them."""
SATISFACTION_WEIGHTS: Final = {1: 0.04, 2: 0.08, 3: 0.28, 4: 0.35, 5: 0.25}
GENDERS: Final = ("M", "F")
AGES: Final = (16, 75)
LINES: Final = (1, 10)
QUANTITIES: Final = (1, 10)
COUPON_RATE: Final = 0.1
FIRST_DATE: Final = datetime(2013, 1, 1, tzinfo=UTC)
END_DATE: Final = datetime(2018, 1, 1, tzinfo=UTC)
"""Exclusive."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SPAN_MS: Final = (END_DATE - FIRST_DATE) // timedelta(milliseconds=1)
_CONSONANTS: Final = "bcdfghjklmnprstvwz"
_VOWELS: Final = "aeiou"
_TLDS: Final = ("sv", "uy", "cg", "pe", "sh", "cd", "zm", "ki", "ne", "bg", "ls", "gu", "ar", "cx", "tf", "pa")


class _Choice:
    """A weighted choice by one uniform draw (cumulative weights), cheaper than `random.choices`."""

    def __init__(self, weights: dict[Any, float]) -> None:
        self.values = list(weights)
        total = sum(weights.values())
        running = 0.0
        self.bounds = []
        for weight in weights.values():
            running += weight / total
            self.bounds.append(running)

    def __call__(self, rng: random.Random) -> Any:
        draw = rng.random()
        for value, bound in zip(self.values, self.bounds, strict=True):
            if draw < bound:
                return value
        return self.values[-1]


_STORE = _Choice(STORE_WEIGHTS)
_METHOD = _Choice(METHOD_WEIGHTS)
_ITEM = _Choice(ITEM_WEIGHTS)
_SATISFACTION = _Choice(SATISFACTION_WEIGHTS)
_TAGS: Final = {name: list(tags) for name, tags in ITEM_CATALOGUE.items()}


def _between(rng: random.Random, low: int, high: int) -> int:
    """A whole number from `low` to `high` (both included) from one uniform draw: `randint` costs
    several draws and function calls, and a million sales make tens of millions of these."""
    return low + int(rng.random() * (high - low + 1))


def _one_of(rng: random.Random, values: Sequence[str]) -> str:
    return values[int(rng.random() * len(values))]


def _word(rng: random.Random, low: int, high: int) -> str:
    parts = []
    for _ in range(_between(rng, low, high)):
        parts.append(_one_of(rng, _CONSONANTS) + _one_of(rng, _VOWELS))
        if rng.random() < 0.3:
            parts.append(_one_of(rng, _CONSONANTS))
    return "".join(parts)


def _email(rng: random.Random) -> str:
    """An address in the dataset's style (`cauho@witwuta.sv`)."""
    return f"{_word(rng, 1, 3)}@{_word(rng, 1, 3)}.{_one_of(rng, _TLDS)}"


class _Customers:
    """Who buys: a new customer per sale, or one of `pool` returning customers drawn with a skewed
    popularity (customer k is drawn with a probability falling as k grows), each keeping their
    gender, age and address across purchases."""

    def __init__(self, seed: int, pool: int | None) -> None:
        self.seed = seed
        self.pool = pool
        self.known: dict[int, tuple[str, int, str]] = {}

    def __call__(self, rng: random.Random) -> tuple[str, int, str]:
        if self.pool is None:
            return _one_of(rng, GENDERS), _between(rng, *AGES), _email(rng)
        index = int(self.pool * rng.random() ** 3)
        found = self.known.get(index)
        if found is None:
            own = random.Random(f"{self.seed}:customer:{index}")
            # The index keeps the address unique within the pool.
            found = (
                _one_of(own, GENDERS),
                _between(own, *AGES),
                f"{_word(own, 1, 2)}{index}@{_word(own, 1, 3)}.example",
            )
            self.known[index] = found
        return found


def _sale(rng: random.Random, customers: _Customers) -> dict[str, Any]:
    moment = FIRST_DATE + timedelta(milliseconds=rng.randrange(_SPAN_MS))
    # An ObjectId whose time is the sale's own and whose other 8 bytes come from the seed.
    sale_id = (struct.pack(">I", int(moment.timestamp())) + rng.randbytes(8)).hex()
    items = []
    for _ in range(_between(rng, *LINES)):
        name = _ITEM(rng)
        low, high = PRICE_RANGES[name]
        cents = _between(rng, low * 100, high * 100)
        items.append(
            {"name": name, "tags": list(_TAGS[name]), "price": _money(cents), "quantity": _between(rng, *QUANTITIES)}
        )
    gender, age, email = customers(rng)
    return {
        "_id": sale_id,
        "saleDate": rfc3339(moment),
        "items": items,
        "storeLocation": _STORE(rng),
        "customer": {"gender": gender, "age": age, "email": email, "satisfaction": _SATISFACTION(rng)},
        "couponUsed": rng.random() < COUPON_RATE,
        "purchaseMethod": _METHOD(rng),
    }


def _money(cents: int) -> str:
    """The contract's decimal text of a whole number of cents ("866.5", "40")."""
    whole, part = divmod(cents, 100)
    if part == 0:
        return str(whole)
    return f"{whole}.{part:02d}".rstrip("0")


def sales(count: int, seed: int = DEMO_SEED, customers: int | None = None) -> Iterator[dict[str, Any]]:
    """`count` sales in canonical JSON, one at a time (a large count never sits in memory). The first
    n sales of a seed are the same whatever the count; with `customers`, also whatever the count."""
    rng = random.Random(seed)
    who = _Customers(seed, customers)
    for _ in range(count):
        yield _sale(rng, who)


def extended_json(sale: dict[str, Any]) -> str:
    """One canonical sale as the line `mongoexport` writes (canonical Extended JSON)."""
    millis = (datetime.fromisoformat(sale["saleDate"].replace("Z", "+00:00")) - _EPOCH) // timedelta(milliseconds=1)
    customer = sale["customer"]
    document = {
        "_id": {"$oid": sale["_id"]},
        "saleDate": {"$date": {"$numberLong": str(millis)}},
        "items": [
            {
                "name": item["name"],
                "tags": item["tags"],
                "price": {"$numberDecimal": item["price"]},
                "quantity": {"$numberInt": str(item["quantity"])},
            }
            for item in sale["items"]
        ],
        "storeLocation": sale["storeLocation"],
        "customer": {
            "gender": customer["gender"],
            "age": {"$numberInt": str(customer["age"])},
            "email": customer["email"],
            "satisfaction": {"$numberInt": str(customer["satisfaction"])},
        },
        "couponUsed": sale["couponUsed"],
        "purchaseMethod": sale["purchaseMethod"],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def lines(count: int, seed: int = DEMO_SEED) -> Iterator[str]:
    """`count` generated sales as `mongoexport` lines (no line ends), one at a time."""
    return (extended_json(sale) for sale in sales(count, seed))


def write_file(path: Path, count: int = DEMO_COUNT, seed: int = DEMO_SEED) -> Path:
    """Write `count` generated sales to `path` as `mongoexport` lines, the input of `sales-writer import`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for line in lines(count, seed):
            handle.write(line + "\n")
    return path
