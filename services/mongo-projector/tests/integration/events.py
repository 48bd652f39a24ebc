"""Event streams for integration tests, made through the contract."""

from __future__ import annotations

import random

from bson import ObjectId

from supply_common.contract import Sale, SaleEvent

from ..events import BASE, LINES, SAMPLES, sale_event

__all__ = ["BASE", "LINES", "SAMPLES", "changed", "history", "new_sale", "sale_event"]


def new_sale(rng: random.Random, template: Sale | None = None) -> Sale:
    template = template or rng.choice(SAMPLES)
    return template.model_copy(update={"id": str(ObjectId())})


def changed(sale: Sale, version: int) -> Sale:
    return sale.model_copy(update={"customer": sale.customer.model_copy(update={"age": (20 + version) % 100})})


def history(count: int, updates: int, seed: int = 7) -> tuple[list[SaleEvent], dict[str, int]]:
    """`count` sales created, then `updates` updates spread over them; returns the events and each
    sale's final version."""
    rng = random.Random(seed)
    sales = [new_sale(rng) for _ in range(count)]
    versions = {sale.id: 1 for sale in sales}
    events = [sale_event(sale, 1, "create") for sale in sales]
    by_id = {sale.id: sale for sale in sales}
    for _ in range(updates):
        sale_id = rng.choice(sales).id
        versions[sale_id] += 1
        events.append(sale_event(changed(by_id[sale_id], versions[sale_id]), versions[sale_id]))
    return events, versions
