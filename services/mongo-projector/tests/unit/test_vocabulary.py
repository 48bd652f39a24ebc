"""A word search as the names it matches, from the words lookup."""

from __future__ import annotations

from supply_projector.domain.queries import SalesFilter
from supply_projector.domain.search import Field, matches
from supply_projector.service_layer.vocabulary import Vocabulary


class Lookup:
    """The words lookup's contract: the names with a word the key starts (here computed directly)."""

    def __init__(self, items: list[str], tags: list[str]) -> None:
        self.known: dict[Field, list[str]] = {"item": items, "tag": tags}
        self.reads = 0

    def names(self, field: Field, key: str) -> list[str]:
        self.reads += 1
        return sorted(name for name in self.known[field] if matches(key, name))


def test_a_word_becomes_the_names_it_starts_a_word_of() -> None:
    vocabulary = Vocabulary(Lookup(["Laptop", "laptop bag", "Printer Paper"], ["electronics"]))
    resolved = vocabulary.resolve(SalesFilter(item="LAP", tag="elec"))
    assert resolved is not None
    assert resolved.item_names == ("Laptop", "laptop bag")
    assert resolved.tag_names == ("electronics",)
    paper = vocabulary.resolve(SalesFilter(item="pa"))
    assert paper is not None
    assert paper.item_names == ("Printer Paper",)


def test_a_word_no_name_holds_rules_the_search_out_without_reading_further() -> None:
    lookup = Lookup(["laptop"], ["electronics"])
    vocabulary = Vocabulary(lookup)
    assert vocabulary.resolve(SalesFilter(item="zebra", tag="elec")) is None
    assert lookup.reads == 1  # the tag was not looked up
    assert vocabulary.resolve(SalesFilter(item="laptop", tag="office")) is None


def test_a_search_without_words_reads_no_lookup() -> None:
    lookup = Lookup([], [])
    search = SalesFilter(store="Denver", item="  ")
    assert Vocabulary(lookup).resolve(search) == search.with_names({})
    assert lookup.reads == 0


def test_a_name_just_written_is_found_at_once() -> None:
    lookup = Lookup(["laptop"], [])
    vocabulary = Vocabulary(lookup)
    assert vocabulary.resolve(SalesFilter(item="stapler")) is None
    lookup.known["item"].append("Stapler")
    resolved = vocabulary.resolve(SalesFilter(item="stapler"))
    assert resolved is not None
    assert resolved.item_names == ("Stapler",)
