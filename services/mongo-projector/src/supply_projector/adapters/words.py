"""The words lookup of a sales collection (`<sales>_words`): one entry per word start of every item
name and tag a sale of the copy holds (`domain.search.word_entries`), so that a word search finds
the names it matches by one `_id` range, which every server serves by its `_id` index.

Entries are only ever added: a name no sale holds any more costs one more equality in a search that
matches it, never a wrong answer. The store adds a batch's new names before it writes the batch's
sales (`MongoStore.execute`), so a sale in the copy always has its names here. Each process keeps
the names it has seen written, so a batch of known names costs no command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from supply_projector.domain.search import Field, key_range, matches, word_entries

FILLED = "~filled"
"""The marker of a lookup that holds every sale's names (after `backfill_search` or from the start)."""

Run = Callable[[str, str, str, list[dict[str, Any]]], list[int]]


def words_collection(sales: str) -> str:
    return f"{sales}_words"


def names_of(document: Mapping[str, Any]) -> dict[Field, list[str]]:
    """A stored sale's item names and tags, from its items (a document of any earlier shape too)."""
    items = [item for item in document.get("items") or [] if isinstance(item, Mapping)]
    return {
        "item": list(dict.fromkeys(str(item.get("name", "")) for item in items)),
        "tag": list(dict.fromkeys(str(tag) for item in items for tag in item.get("tags") or [])),
    }


class MongoWords:
    """Implements `service_layer.vocabulary.WordLookup` for the sales collection `sales()` names."""

    def __init__(
        self,
        database: Database[dict[str, Any]],
        sales: Callable[[], str],
        run: Run | None = None,
        known: dict[str, set[tuple[Field, str]]] | None = None,
    ) -> None:
        self.database = database
        self.sales = sales
        self._run = run
        self._known = known if known is not None else {}

    def collection(self) -> str:
        return words_collection(self.sales())

    def names(self, field: Field, key: str) -> list[str]:
        found = self.database[self.collection()].find({"_id": key_range(field, key)}, {"name": 1})
        return sorted({str(entry["name"]) for entry in found if matches(key, str(entry["name"]))})

    def record(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Add the entries of the names these documents hold that this process has not written yet;
        how many names were new to it."""
        collection = self.collection()
        known = self._known.setdefault(collection, set())
        new: dict[tuple[Field, str], None] = {}
        for document in documents:
            for field, names in names_of(document).items():
                new.update((pair, None) for name in names if (pair := (field, name)) not in known)
        if not new:
            return 0
        entries = [
            {"_id": entry, "name": name}
            for field in ("item", "tag")
            for entry, name in word_entries(field, (n for f, n in new if f == field)).items()
        ]
        if self._run is None:
            raise RuntimeError("a read-only words lookup cannot record")
        self._run(collection, "insert", "documents", entries)  # an entry already there is a duplicate: fine
        known.update(new)
        return len(new)

    def forget(self) -> None:
        """Write every name again from now on (the lookup may have lost entries this process wrote)."""
        self._known.pop(self.collection(), None)

    def filled(self) -> bool:
        return self.database[self.collection()].find_one({"_id": FILLED}) is not None

    def mark_filled(self) -> None:
        marker = {"$set": {"at": datetime.now(UTC)}}
        self.database[self.collection()].update_one({"_id": FILLED}, marker, upsert=True)
