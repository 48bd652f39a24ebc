"""Targets measured side by side take turns in an order that changes from one turn to the next."""

from __future__ import annotations

import itertools
from collections import Counter

from bench.measure import Target, _rotated


def test_each_target_opens_a_turn_as_often_and_follows_more_than_one_other() -> None:
    targets = [Target(name, f"http://127.0.0.1/{name}", {}) for name in "abcd"]
    turns = [[t.name for t in _rotated(targets, turn)] for turn in range(8)]
    assert all(sorted(order) == list("abcd") for order in turns)
    assert Counter(order[0] for order in turns) == {name: 2 for name in "abcd"}
    # What a measurement leaves behind falls on the one after it: in a fixed order always the same one.
    sequence = [name for order in turns for name in order]
    before = {name: {b for b, a in itertools.pairwise(sequence) if a == name} for name in "abcd"}
    assert all(len(others) >= 2 for others in before.values()), before
    assert _rotated([], 3) == []
