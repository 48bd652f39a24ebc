"""Reading `mongoexport` output record by record: a JSON array or JSON lines, fed in chunks.

Records are numbered by line for JSON lines and by position (1-based) for a JSON array, whose
records usually share one line. A bad record becomes a `Rejected` and the others go on; only a
broken JSON array, which cannot be resynchronised, ends the read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ijson
from pydantic import ValidationError

from supply_common.contract import Sale, from_extended_json, from_extended_value


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str


@dataclass(frozen=True)
class Parsed:
    line: int
    sale: Sale


class BrokenInput(Exception):
    """A JSON array that cannot be read on; `records` are those completed before the fault."""

    def __init__(self, line: int, reason: str, records: list[Parsed | Rejected]) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason
        self.records = records


def describe(error: Exception) -> str:
    """A short reason naming the fields at fault."""
    if isinstance(error, ValidationError):
        parts = []
        for item in error.errors()[:5]:
            where = ".".join(str(p) for p in item["loc"]) or "record"
            parts.append(f"{where}: {item['msg']}")
        return "; ".join(parts)
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON: {error.msg} at column {error.colno}"
    return f"{type(error).__name__}: {str(error)[:200]}"


def parse_record(line: int, record: str | bytes | Any) -> Parsed | Rejected:
    """One record: its JSON text, or its value as the array parser read it (numbers exact)."""
    try:
        if isinstance(record, str | bytes):
            return Parsed(line, from_extended_json(record))
        return Parsed(line, from_extended_value(record))
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with one record, the others go on
        return Rejected(line, describe(exc))


class RecordReader:
    """Push parser: `feed(chunk)` and `close()` return the records completed so far, in order."""

    def __init__(self) -> None:
        self._mode: str | None = None
        self._tail = b""
        self._line = 0
        self._items: Any = None
        self._coro: Any = None

    def _start(self, chunk: bytes) -> bytes:
        stripped = chunk.lstrip()
        if not stripped:
            self._tail += chunk
            return b""
        if self._mode is None:
            self._mode = "array" if stripped.startswith(b"[") else "lines"
            if self._mode == "array":
                self._items = ijson.sendable_list()
                self._coro = ijson.items_coro(self._items, "item")  # numbers as int or Decimal
        data, self._tail = self._tail + chunk, b""
        return data

    def feed(self, chunk: bytes) -> list[Parsed | Rejected]:
        if self._mode is None:
            chunk = self._start(chunk)
            if self._mode is None:
                return []
        if self._mode == "lines":
            data = self._tail + chunk
            *lines, self._tail = data.split(b"\n")
            return list(self._lines(lines))
        return self._array(chunk, final=False)

    def close(self) -> list[Parsed | Rejected]:
        if self._mode == "lines":
            tail, self._tail = self._tail, b""
            return list(self._lines([tail]))
        if self._mode == "array":
            return self._array(b"", final=True)
        return []

    def _lines(self, lines: list[bytes]) -> Iterator[Parsed | Rejected]:
        for raw in lines:
            self._line += 1
            text = raw.strip()
            if text:
                yield parse_record(self._line, text)

    def _array(self, chunk: bytes, *, final: bool) -> list[Parsed | Rejected]:
        try:
            if chunk:
                self._coro.send(chunk)
            if final:
                self._coro.close()
        except ijson.JSONError as exc:
            done = self._drain()
            raise BrokenInput(self._line + 1, f"not valid JSON: {str(exc)[:200]}", done) from None
        return self._drain()

    def _drain(self) -> list[Parsed | Rejected]:
        out: list[Parsed | Rejected] = []
        for item in self._items:
            self._line += 1
            out.append(parse_record(self._line, item))
        del self._items[:]
        return out


def read_all(chunks: Iterator[bytes]) -> Iterator[Parsed | Rejected]:
    """Every record of a whole input; a broken JSON array ends with one Rejected."""
    reader = RecordReader()
    try:
        for chunk in chunks:
            yield from reader.feed(chunk)
        yield from reader.close()
    except BrokenInput as exc:
        yield from exc.records
        yield Rejected(exc.line, exc.reason)
