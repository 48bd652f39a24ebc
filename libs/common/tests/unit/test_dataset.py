"""Generated sales: the same on every machine for a seed, valid sales of the contract, spread like the
public dataset."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from supply_common.contract import ITEM_CATALOGUE, PURCHASE_METHODS, STORES, Sale, canonical, from_extended_json
from supply_common.testing import dataset

DEMO_FILE_SHA256 = "878a41300a1244af4c41b7720f61ff3fc5f07144620e6834b9aab22ffd65cc04"
"""The digest of the demo file `make run` imports: a change to the generator that changes the demo set
must change this on purpose."""


@pytest.fixture(scope="module")
def demo() -> list[dict]:
    return list(dataset.sales(dataset.DEMO_COUNT, dataset.DEMO_SEED))


def test_the_same_seed_gives_the_same_sales_and_another_seed_others() -> None:
    assert list(dataset.sales(50, seed=7)) == list(dataset.sales(50, seed=7))
    assert list(dataset.sales(50, seed=7)) != list(dataset.sales(50, seed=8))
    assert list(dataset.sales(50, seed=7, customers=100)) == list(dataset.sales(50, seed=7, customers=100))


def test_a_longer_run_starts_with_the_shorter_one() -> None:
    assert list(dataset.sales(300, seed=3))[:100] == list(dataset.sales(100, seed=3))
    assert list(dataset.sales(300, seed=3, customers=50))[:100] == list(dataset.sales(100, seed=3, customers=50))


def test_the_demo_file_is_the_same_on_every_machine(tmp_path: Path) -> None:
    written = dataset.write_file(tmp_path / "demo.json")
    assert hashlib.sha256(written.read_bytes()).hexdigest() == DEMO_FILE_SHA256


def test_every_sale_is_a_valid_sale_in_canonical_form_and_reads_back_from_its_export_line(demo: list[dict]) -> None:
    assert len({sale["_id"] for sale in demo}) == len(demo)
    for sale in demo:
        assert canonical(Sale.model_validate(sale)) == sale
        assert canonical(from_extended_json(dataset.extended_json(sale))) == sale


def test_the_export_lines_are_written_as_mongoexport_writes_the_dataset(tmp_path: Path) -> None:
    line = dataset.write_file(tmp_path / "five.json", count=5).read_text().splitlines()[0]
    for wrapper in ('"$oid"', '"$date":{"$numberLong"', '"$numberDecimal"', '"$numberInt"'):
        assert wrapper in line


def _share(counter: Counter, total: int) -> dict:
    return {key: count / total for key, count in counter.items()}


def test_stores_methods_and_coupons_are_spread_as_in_the_dataset(demo: list[dict]) -> None:
    stores = _share(Counter(sale["storeLocation"] for sale in demo), len(demo))
    methods = _share(Counter(sale["purchaseMethod"] for sale in demo), len(demo))
    assert set(stores) == set(STORES)
    assert set(methods) == set(PURCHASE_METHODS)
    for share, weights in ((stores, dataset.STORE_WEIGHTS), (methods, dataset.METHOD_WEIGHTS)):
        for key, weight in weights.items():
            assert share[key] == pytest.approx(weight, abs=0.02)
    assert max(stores, key=stores.__getitem__) == "Denver"
    assert min(stores, key=stores.__getitem__) == "San Diego"
    assert max(methods, key=methods.__getitem__) == "In store"
    assert sum(sale["couponUsed"] for sale in demo) / len(demo) == pytest.approx(dataset.COUPON_RATE, abs=0.015)


def test_items_keep_their_tags_and_price_ranges(demo: list[dict]) -> None:
    lines = Counter(len(sale["items"]) for sale in demo)
    assert set(lines) == set(range(1, 11))
    items = [item for sale in demo for item in sale["items"]]
    assert {item["name"] for item in items} == set(ITEM_CATALOGUE)
    assert {item["quantity"] for item in items} == set(range(1, 11))
    for item in items:
        assert tuple(item["tags"]) == ITEM_CATALOGUE[item["name"]]
        low, high = dataset.PRICE_RANGES[item["name"]]
        assert low <= Decimal(item["price"]) <= high
    names = Counter(item["name"] for item in items)
    assert names.most_common(1)[0][0] == "notepad"
    assert min(names, key=names.__getitem__) == "laptop"


def test_customers_are_spread_as_in_the_dataset(demo: list[dict]) -> None:
    customers = [sale["customer"] for sale in demo]
    genders = _share(Counter(customer["gender"] for customer in customers), len(demo))
    assert genders == pytest.approx({"M": 0.5, "F": 0.5}, abs=0.03)
    ages = [customer["age"] for customer in customers]
    assert (min(ages), max(ages)) == dataset.AGES
    assert sum(ages) / len(ages) == pytest.approx(45.5, abs=1.5)
    scores = _share(Counter(customer["satisfaction"] for customer in customers), len(demo))
    assert scores == pytest.approx(dataset.SATISFACTION_WEIGHTS, abs=0.02)
    assert len({customer["email"] for customer in customers}) > 0.99 * len(demo)


def test_dates_cover_2013_to_2017_evenly(demo: list[dict]) -> None:
    years = Counter(datetime.fromisoformat(sale["saleDate"].replace("Z", "+00:00")).year for sale in demo)
    assert set(years) == {2013, 2014, 2015, 2016, 2017}
    assert all(count / len(demo) == pytest.approx(0.2, abs=0.025) for count in years.values())


def test_returning_customers_keep_who_they_are_and_a_few_buy_often() -> None:
    generated = list(dataset.sales(5_000, seed=11, customers=10_000))
    purchases = Counter(sale["customer"]["email"] for sale in generated)
    assert len(purchases) <= 10_000
    assert max(purchases.values()) >= 20
    assert any(15 <= count <= 20 for count in purchases.values())
    seen: dict[str, tuple[str, int]] = {}
    for sale in generated:
        customer = sale["customer"]
        assert seen.setdefault(customer["email"], (customer["gender"], customer["age"])) == (
            customer["gender"],
            customer["age"],
        )
