"""The generator follows the dataset's shape and distributions and is reproducible."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from supply_common.contract import ITEM_CATALOGUE, PURCHASE_METHODS, STORES, from_extended_json
from supply_sales_writer.domain.generator import generate_lines


def test_every_generated_line_is_a_valid_sale_in_canonical_extended_json() -> None:
    lines = list(generate_lines(300, seed=1))
    sales = [from_extended_json(line) for line in lines]
    assert all('"$numberDecimal"' in line and '"$numberInt"' in line and '"$oid"' in line for line in lines)
    assert len({sale.id for sale in sales}) == 300
    for sale in sales:
        assert 1 <= len(sale.items) <= 10
        assert datetime(2013, 1, 1, tzinfo=UTC) <= sale.saleDate < datetime(2018, 1, 1, tzinfo=UTC)
        for item in sale.items:
            assert tuple(item.tags) == ITEM_CATALOGUE[item.name]
            assert 1 <= item.quantity <= 10


def test_the_same_seed_gives_the_same_file() -> None:
    assert list(generate_lines(20, seed=5)) == list(generate_lines(20, seed=5))
    assert list(generate_lines(20, seed=5)) != list(generate_lines(20, seed=6))


def test_distributions_follow_the_dataset() -> None:
    sales = [from_extended_json(line) for line in generate_lines(4000, seed=2)]
    stores = Counter(sale.storeLocation for sale in sales)
    methods = Counter(sale.purchaseMethod for sale in sales)
    names = Counter(item.name for sale in sales for item in sale.items)
    assert set(stores) == set(STORES)
    assert set(methods) == set(PURCHASE_METHODS)
    assert set(names) == set(ITEM_CATALOGUE)
    assert stores.most_common(1)[0][0] == "Denver"
    assert min(stores, key=stores.__getitem__) == "San Diego"
    assert methods.most_common(1)[0][0] == "In store"
    coupons = sum(sale.couponUsed for sale in sales) / len(sales)
    assert 0.07 < coupons < 0.13
    laptops = [item.price for sale in sales for item in sale.items if item.name == "laptop"]
    pens = [item.price for sale in sales for item in sale.items if item.name == "pens"]
    assert min(laptops) > max(pens)
    assert all(sale.customer.email.count("@") == 1 for sale in sales)
