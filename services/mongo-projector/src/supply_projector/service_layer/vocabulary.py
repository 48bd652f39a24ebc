"""A word search (`item`, `tag`) as the names it matches: the words lookup gives, for a search key,
every item name or tag of the copy with a word that it starts (`domain.search`), and the search
becomes an equality with one of them, which the store's index of `_supply.names` or
`_supply.tags` serves. A word that matches no name matches no sale: such a search is answered
empty without reading the sales.

The store adds a sale's names to the lookup before it writes the sale, so a sale just applied is
found at once.
"""

from __future__ import annotations

from typing import Protocol

from supply_projector.domain.queries import SalesFilter
from supply_projector.domain.search import Field


class WordLookup(Protocol):
    def names(self, field: Field, key: str) -> list[str]:
        """The item names (`item`) or tags (`tag`) of the copy with a word that `key` starts."""
        ...


class Vocabulary:
    def __init__(self, lookup: WordLookup) -> None:
        self.lookup = lookup

    def resolve(self, search: SalesFilter) -> SalesFilter | None:
        """The search with the names its words match (`SalesFilter.with_names`); None when a word
        matches no name, so no sale."""
        names: dict[Field, list[str]] = {}
        for field, key in search.words().items():
            names[field] = self.lookup.names(field, key)
            if not names[field]:
                return None
        return search.with_names(names)
