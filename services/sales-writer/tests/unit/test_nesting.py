"""The nesting gauge: exact depth of JSON text fed in any pieces, brackets in strings not counted."""

from __future__ import annotations

import json
import random

import pytest

from supply_common.testing import SAMPLE_DATASET
from supply_sales_writer.domain.nesting import MAX_DEPTH, SALE_DEPTH, NestingGauge, line_and_column, too_deep_at


def reference(data: bytes, limit: int) -> int | None:
    """Byte by byte, as a JSON parser walks: where the level past `limit` opens."""
    depth, in_string, escaped = 0, False, False
    for offset, char in enumerate(data.decode("latin-1")):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_string:
            in_string = char != '"'
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return offset
        elif char in "]}":
            depth -= 1
    return None


def fed_in_pieces(data: bytes, limit: int, cuts: list[int]) -> int | None:
    gauge = NestingGauge(limit)
    start = 0
    for end in [*cuts, len(data)]:
        found = gauge.feed(data[start:end])
        if found is not None:
            return start + found
        start = end
    return None


def test_every_sale_of_the_dataset_is_within_the_bound_alone_and_in_an_array() -> None:
    lines = SAMPLE_DATASET.read_bytes().splitlines()
    assert max(_depth(json.loads(line)) for line in lines) == SALE_DEPTH
    assert all(too_deep_at(line) is None for line in lines)
    assert too_deep_at(b"[" + b",".join(lines) + b"]") is None


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def test_the_first_level_past_the_bound_is_found_where_it_opens() -> None:
    body = b'{"items": [' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"]}"
    assert too_deep_at(body) == 11 + MAX_DEPTH - 2
    assert too_deep_at(b"[" * 10_000 + b"]" * 10_000) == MAX_DEPTH


def test_brackets_and_escaped_quotes_inside_strings_do_not_count() -> None:
    text = json.dumps({"name": "[[[[[[[[[[{{{{{{{{", "tags": ['\\"[[[[[[[[[[', '""']}).encode()
    assert too_deep_at(text, limit=2) is None
    assert too_deep_at(text, limit=1) == text.index(b'"tags": [') + len(b'"tags": ')


@pytest.mark.parametrize("seed", range(4))
def test_any_cut_into_pieces_finds_the_same_place_as_a_byte_walk(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(2_000):
        data = bytes(rnd.choice(b'[]{}"\\a:,') for _ in range(rnd.randint(0, 60)))
        limit = rnd.randint(1, 5)
        cuts = sorted(rnd.sample(range(len(data) + 1), min(len(data) + 1, rnd.randint(0, 6))))
        assert fed_in_pieces(data, limit, cuts) == reference(data, limit), (data, limit, cuts)


def test_reset_starts_a_new_document() -> None:
    gauge = NestingGauge(limit=2)
    assert gauge.feed(b'[["') is None  # open: two levels and a string
    gauge.reset()
    assert gauge.feed(b"[[]]") is None
    assert gauge.feed(b"[[[") == 2


def test_line_and_column_of_an_offset() -> None:
    document = b'{\n  "a": [\n    [['
    assert line_and_column(document, document.rindex(b"[")) == (3, 6)
