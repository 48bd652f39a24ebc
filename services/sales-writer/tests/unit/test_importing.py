"""Reading mongoexport output in chunks: lines or an array, canonical or relaxed, bad records reported."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator

import pytest
from bson.json_util import RELAXED_JSON_OPTIONS, dumps, loads

from supply_common.testing import SAMPLE_DATASET
from supply_sales_writer.domain.importing import Parsed, RecordReader, Rejected, TooDeep, read_all
from supply_sales_writer.domain.nesting import MAX_DEPTH

LINES = SAMPLE_DATASET.read_text().splitlines()


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 7, 100, 1 << 20])
def test_json_lines_in_any_chunking_give_every_record_with_its_line(size: int) -> None:
    data = ("\n".join(LINES) + "\n").encode()
    records = list(read_all(iter(chunked(data, size))))
    assert [r.line for r in records] == list(range(1, 8))
    assert all(isinstance(r, Parsed) for r in records)
    assert records[0].sale.id == "5bd761dcae323e45a93ccfe8"  # type: ignore[union-attr]


@pytest.mark.parametrize("size", [1, 50, 1 << 20])
def test_a_relaxed_json_array_gives_the_same_sales(size: int) -> None:
    documents = [loads(line) for line in LINES]
    data = ("  [\n" + ",\n".join(dumps(d, json_options=RELAXED_JSON_OPTIONS) for d in documents) + "\n]").encode()
    records = list(read_all(iter(chunked(data, size))))
    expected = [r.sale for r in read_all(iter([SAMPLE_DATASET.read_bytes()]))]  # type: ignore[union-attr]
    assert [r.sale for r in records] == expected  # type: ignore[union-attr]


def test_a_last_line_without_newline_and_blank_lines_are_handled() -> None:
    data = ("\n\n" + LINES[0] + "\n\r\n" + LINES[1]).encode()
    records = list(read_all(iter([data])))
    assert [(type(r), r.line) for r in records] == [(Parsed, 3), (Parsed, 5)]


def test_bad_records_are_rejected_with_line_and_reason_and_the_rest_go_on() -> None:
    bad_age = json.loads(LINES[1])
    bad_age["customer"]["age"] = {"$numberInt": "130"}
    no_id = json.loads(LINES[2])
    del no_id["_id"]
    data = "\n".join([LINES[0], "{oops", json.dumps(bad_age), json.dumps(no_id), '{"_id": {"$oid": "zz"}}', LINES[3]])
    records = list(read_all(iter([data.encode()])))
    assert [type(r) for r in records] == [Parsed, Rejected, Rejected, Rejected, Rejected, Parsed]
    reasons = {r.line: r.reason for r in records if isinstance(r, Rejected)}
    assert reasons[2].startswith("not valid JSON")
    assert "customer.age" in reasons[3]
    assert "_id" in reasons[4]


def test_a_broken_array_ends_with_one_rejection_after_the_good_records() -> None:
    data = ("[" + LINES[0] + "," + LINES[1] + ", {]").encode()
    records = list(read_all(iter(chunked(data, 64))))
    assert [type(r) for r in records] == [Parsed, Parsed, Rejected]
    assert records[-1].line == 3


NESTED = b"[" * 10_000 + b"]" * 10_000
"""20 KB of nested arrays: a streaming parser that keeps a path per level needs hundreds of MB for it."""


def read_until_refused(chunks: Iterator[bytes]) -> tuple[list[Parsed | Rejected], TooDeep]:
    reader = RecordReader()
    records: list[Parsed | Rejected] = []

    def read() -> None:
        for chunk in chunks:
            records.extend(reader.feed(chunk))
        records.extend(reader.close())

    with pytest.raises(TooDeep) as refused:
        read()
    return records + refused.value.records, refused.value


@pytest.mark.parametrize("size", [1 << 16, 100])
def test_an_array_nested_past_the_bound_is_refused_where_it_gets_too_deep_at_constant_memory(size: int) -> None:
    tracemalloc.start()
    try:
        records, refused = read_until_refused(iter(chunked(NESTED, size)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (records, refused.line) == ([], 1)
    assert f"more than {MAX_DEPTH} levels" in refused.reason
    assert peak < 1 << 20


def test_json_lines_nested_past_the_bound_are_refused_at_their_line_after_the_records_before() -> None:
    deep = b'{"_id": {"$oid": "5bd761dcae323e45a93ccfe8"}, "items": ' + NESTED + b"}"
    data = b"\n".join([LINES[0].encode(), b"", LINES[1].encode(), deep, LINES[2].encode()])
    tracemalloc.start()
    try:
        records, refused = read_until_refused(iter(chunked(data, 4096)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(type(r), r.line) for r in records] == [(Parsed, 1), (Parsed, 3)]
    assert refused.line == 4
    assert peak < 1 << 20


def test_a_record_in_an_array_is_refused_by_its_position_after_the_records_before() -> None:
    deep_tags = json.loads(LINES[2])
    deep_tags["items"][0]["tags"] = [[[[["office"]]]]]
    data = ("[" + ",".join([LINES[0], LINES[1], json.dumps(deep_tags), LINES[3]]) + "]").encode()
    records, refused = read_until_refused(iter(chunked(data, 1 << 16)))
    assert [(type(r), r.line) for r in records] == [(Parsed, 1), (Parsed, 2)]
    assert refused.line == 3


def test_a_line_nested_one_level_too_deep_for_a_sale_is_still_read_and_rejected_by_its_field() -> None:
    nested_tags = json.loads(LINES[0])
    nested_tags["items"][0]["tags"] = [["office"]]
    (record,) = read_all(iter([json.dumps(nested_tags).encode()]))
    assert isinstance(record, Rejected)
    assert "items.0.tags" in record.reason


def test_read_all_ends_a_refused_input_with_one_rejection() -> None:
    data = b"\n".join([LINES[0].encode(), NESTED, LINES[1].encode()])
    records = list(read_all(iter(chunked(data, 1 << 16))))
    assert [(type(r), r.line) for r in records] == [(Parsed, 1), (Rejected, 2)]
