from __future__ import annotations

from supply_projector.domain.queries import SalesFilter
from supply_projector.domain.rollups import Counters, key
from supply_projector.service_layer.vocabulary import Vocabulary, words


class Months:
    def __init__(self, months: dict[str, Counters], complete: bool = True) -> None:
        self.buckets = months
        self.built = complete
        self.reads = 0

    def complete(self) -> bool:
        return self.built

    def months(self, first: str | None, end: str | None) -> dict[str, Counters]:
        self.reads += 1
        return self.buckets


def month(items: list[str], tags: list[str]) -> Counters:
    found: Counters = {"n": 1, "c": 100}
    for name in items:
        found |= {f"item.{key(name)}.n": 1, f"item.{key(name)}.q": 2, f"item.{key(name)}.c": 100}
    for tag in tags:
        found |= {f"tag.{key(tag)}.n": 1, f"tag.{key(tag)}.c": 100}
    return found


def test_the_words_are_the_search_keys_of_every_item_name_and_tag_counted() -> None:
    found = words({"m:2017-01": month(["Printer Paper"], ["office"]), "m:2017-02": month(["a.b$c"], [])})
    assert {"p", "printer", "printer paper", "pa", "paper", "a.b$c"} <= found["item"]
    assert "office" in found["tag"]
    assert "printer" not in found["tag"]
    assert "off" not in found["item"]


def test_a_word_no_sale_holds_rules_the_search_out_and_a_known_one_never_reads_again() -> None:
    rollups = Months({"m:2017-01": month(["laptop"], ["electronics"])})
    vocabulary = Vocabulary(rollups)
    assert not vocabulary.rules_out(SalesFilter(item="Lap"))
    assert not vocabulary.rules_out(SalesFilter(item="lap", tag="elec"))
    reads = rollups.reads
    assert not vocabulary.rules_out(SalesFilter(item="laptop"))
    assert rollups.reads == reads  # known: the rollups are not read again
    assert vocabulary.rules_out(SalesFilter(item="zebra"))
    assert vocabulary.rules_out(SalesFilter(item="laptop", tag="office"))
    assert not vocabulary.rules_out(SalesFilter(store="Denver"))


def test_a_word_of_a_sale_just_applied_is_found_at_once() -> None:
    rollups = Months({"m:2017-01": month(["laptop"], [])})
    vocabulary = Vocabulary(rollups)
    assert vocabulary.rules_out(SalesFilter(item="stapler"))
    rollups.buckets["m:2017-02"] = month(["stapler"], [])
    assert not vocabulary.rules_out(SalesFilter(item="stapler"))


def test_rollups_still_being_built_rule_nothing_out() -> None:
    vocabulary = Vocabulary(Months({}, complete=False))
    assert not vocabulary.rules_out(SalesFilter(item="anything", tag="at all"))
