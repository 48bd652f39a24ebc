"""Reading `mongoexport` output record by record: a JSON array or JSON lines, fed in chunks.

Records are numbered by line for JSON lines and by position (1-based) for a JSON array, whose
records usually share one line. A bad record becomes a `Rejected` and the others go on; only a
broken JSON array, which cannot be resynchronised, ends the read, and a record nested deeper than
any sale (`nesting.MAX_DEPTH`) ends it before a parser builds its levels (`TooDeep`). Between
chunks only the current line (JSON lines) or the array parser's current record is held, no deeper
than the bound.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ijson
from pydantic import ValidationError

from supply_common.contract import Sale, from_extended_json, from_extended_value
from supply_sales_writer.domain.nesting import MAX_DEPTH, NestingGauge


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


class TooDeep(BrokenInput):
    """A record nested deeper than any sale: nothing after its first level past the bound is read."""

    def __init__(self, line: int, records: list[Parsed | Rejected], limit: int = MAX_DEPTH) -> None:
        super().__init__(line, f"nested more than {limit} levels deep; a sale has fewer", records)
        self.limit = limit


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
    """Push parser: `feed(chunk)` and `close()` return the records completed so far, in order.

    Both raise `BrokenInput` (a JSON array that cannot be read on) and `TooDeep` (a record nested past
    the bound), with the records completed before the fault."""

    def __init__(self, max_depth: int = MAX_DEPTH) -> None:
        self._mode: str | None = None
        self._blank_lines = 0
        self._tail: list[bytes] = []
        self._line = 0
        self._gauge = NestingGauge(max_depth)
        self._items: Any = None
        self._coro: Any = None

    def _start(self, chunk: bytes) -> bytes:
        """Decide the mode on the first byte that is not whitespace; until then only newlines count."""
        stripped = chunk.lstrip()
        if not stripped:
            self._blank_lines += chunk.count(b"\n")
            return b""
        self._mode = "array" if stripped.startswith(b"[") else "lines"
        if self._mode == "array":
            self._items = ijson.sendable_list()
            self._coro = ijson.items_coro(self._items, "item")  # numbers as int or Decimal
        else:
            self._line = self._blank_lines
        return chunk

    def feed(self, chunk: bytes) -> list[Parsed | Rejected]:
        if self._mode is None:
            chunk = self._start(chunk)
            if self._mode is None:
                return []
        if self._mode == "lines":
            return self._lines(chunk)
        return self._array(chunk, final=False)

    def close(self) -> list[Parsed | Rejected]:
        if self._mode == "lines":
            tail, self._tail = b"".join(self._tail), []
            return [record for record in [self._record(tail)] if record is not None]
        if self._mode == "array":
            return self._array(b"", final=True)
        return []

    def _lines(self, chunk: bytes) -> list[Parsed | Rejected]:
        out: list[Parsed | Rejected] = []
        *complete, rest = chunk.split(b"\n")
        for piece in complete:
            if self._gauge.feed(piece) is not None:
                raise TooDeep(self._line + 1, out, self._gauge.limit)
            self._tail.append(piece)
            line, self._tail = b"".join(self._tail), []
            self._gauge.reset()
            record = self._record(line)
            if record is not None:
                out.append(record)
        if self._gauge.feed(rest) is not None:
            raise TooDeep(self._line + 1, out, self._gauge.limit)
        if rest:
            self._tail.append(rest)
        return out

    def _record(self, raw: bytes) -> Parsed | Rejected | None:
        """The next line's record (None: a blank line)."""
        self._line += 1
        text = raw.strip()
        return parse_record(self._line, text) if text else None

    def _array(self, chunk: bytes, *, final: bool) -> list[Parsed | Rejected]:
        too_deep = self._gauge.feed(chunk)
        if too_deep is not None:
            chunk, final = chunk[:too_deep], False
        try:
            if chunk:
                self._coro.send(chunk)
            if final:
                self._coro.close()
        except ijson.JSONError as exc:
            done = self._drain()
            raise BrokenInput(self._line + 1, f"not valid JSON: {str(exc)[:200]}", done) from None
        done = self._drain()
        if too_deep is not None:
            raise TooDeep(self._line + 1, done, self._gauge.limit)
        return done

    def _drain(self) -> list[Parsed | Rejected]:
        out: list[Parsed | Rejected] = []
        for item in self._items:
            self._line += 1
            out.append(parse_record(self._line, item))
        del self._items[:]
        return out


def read_all(chunks: Iterator[bytes]) -> Iterator[Parsed | Rejected]:
    """Every record of a whole input; a broken JSON array or a record nested too deep ends with one
    Rejected."""
    reader = RecordReader()
    try:
        for chunk in chunks:
            yield from reader.feed(chunk)
        yield from reader.close()
    except BrokenInput as exc:
        yield from exc.records
        yield Rejected(exc.line, exc.reason)
