"""Whether any sale could match a word search (`item`, `tag`), from the rollups alone.

The rollups count every item name and tag that a sale in the copy holds (`item.<name>`, `tag.<tag>`
in each month's bucket), so a word that starts none of them matches no sale. Such a search is
answered empty without reading the sales: on the default store, finding that no sale holds a word
tests every sale's search keys, which grows with the copy.

Words found are kept (a sale holding the word may still be in the copy; if it is gone, the search
reads the sales as before and finds nothing); a word not found has the rollups read again, so a sale
just applied is found at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from supply_projector.domain.queries import SalesFilter
from supply_projector.domain.rollups import Counters, name_of
from supply_projector.domain.search import prefixes, search_key

Field = Literal["item", "tag"]


class Words(Protocol):
    def complete(self) -> bool:
        """Whether the rollups cover the whole copy."""
        ...

    def months(self, first: str | None, end: str | None) -> dict[str, Counters]: ...


def words(months: dict[str, Counters]) -> dict[Field, frozenset[str]]:
    """The search keys (`domain.search.prefixes`) of every item name and tag the buckets count."""
    items: set[str] = set()
    tags: set[str] = set()
    for counters in months.values():
        for path in counters:
            parts = path.split(".")
            if len(parts) == 3 and parts[2] == "n" and parts[0] in ("item", "tag"):
                (items if parts[0] == "item" else tags).add(name_of(parts[1]))
    return {"item": frozenset(prefixes(sorted(items))), "tag": frozenset(prefixes(sorted(tags)))}


class Vocabulary:
    def __init__(self, rollups: Words, read: Callable[[Words], dict[Field, frozenset[str]]] | None = None) -> None:
        self.rollups = rollups
        self._read = read or (lambda source: words(source.months(None, None)))
        self._known: dict[Field, frozenset[str]] = {"item": frozenset(), "tag": frozenset()}

    def may_match(self, field: Field, key: str) -> bool:
        """False only when the rollups cover the copy and no item name (`item`) or tag (`tag`) they
        count has a word starting with `key` (a search key, `domain.search.search_key`)."""
        if key in self._known[field]:
            return True
        if not self.rollups.complete():
            return True
        self._known = self._read(self.rollups)
        return key in self._known[field]

    def rules_out(self, search: SalesFilter) -> bool:
        """Whether the search's `item` or `tag` words start no item name or tag of any sale."""
        searched: tuple[tuple[Field, str | None], ...] = (("item", search.item), ("tag", search.tag))
        for field, text in searched:
            key = search_key(text) if text is not None else ""
            if key and not self.may_match(field, key):
                return True
        return False
