"""Reading mongoexport output in chunks: lines or an array, canonical or relaxed, bad records reported."""

from __future__ import annotations

import json

import pytest
from bson.json_util import RELAXED_JSON_OPTIONS, dumps, loads

from supply_common.testing import SAMPLE_DATASET
from supply_sales_writer.domain.importing import Parsed, Rejected, read_all

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
