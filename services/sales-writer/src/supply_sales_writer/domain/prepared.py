"""A sale about to be written, with what every part of the write derives from it worked out once."""

from __future__ import annotations

from typing import Any, NamedTuple

from supply_common.contract import Sale, canonical, document_hash


class Prepared(NamedTuple):
    sale: Sale
    document: dict[str, Any]
    """`canonical(sale)`: the event's data and the response's `sale`."""
    digest: str
    """`sale_hash(sale)`: stored with the row, compared by imports."""


def prepare(sale: Sale) -> Prepared:
    document = canonical(sale)
    return Prepared(sale, document, document_hash(document))
