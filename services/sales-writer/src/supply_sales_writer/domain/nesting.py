"""How deep JSON text nests, measured as it streams in, before any parser builds a thing of it.

A sale nests four levels (the record, `items`, an item, its `tags` or an Extended JSON number), one
more inside a JSON array of records. Input nested deeper than `MAX_DEPTH` is no sale, and a parser
that reads it anyway spends memory and time per level (a streaming parser keeps a path per level;
a recursive one runs out of stack), so it is refused as soon as the level past the bound is seen.

`NestingGauge` keeps three values between pieces (the depth, whether a string is open, whether an
escape is pending), so any input is checked at constant memory. Its check is exact for valid JSON:
brackets inside strings do not count. For invalid JSON it may differ from a parser only after the
first fault, where the parser stops anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import accumulate
from operator import sub
from typing import Final

SALE_DEPTH: Final = 4
"""Levels in one sale record: the record, `items`, an item, and an item's `tags` (or a wrapper such as
`{"$numberDecimal": ...}`)."""

MAX_DEPTH: Final = SALE_DEPTH + 3
"""Deepest nesting read: a sale in a JSON array (one level more), and two more levels so that a
record with a value nested one or two levels too deep is still read and rejected by its field."""

_STRUCTURE: Final = b'[]{}"'
_NOT_STRUCTURE: Final = bytes(range(256)).translate(None, _STRUCTURE)
_STEPS: Final = bytes.maketrans(b"[]{}", b"\x02\x00\x02\x00")
"""An opener counts 2 and a closer 0: the depth after n brackets is their sum minus n."""
_ESCAPE: Final = re.compile(rb"\\.", re.DOTALL)
_STRING: Final = re.compile(rb'"[^"]*"')


@dataclass
class NestingGauge:
    """Feed JSON text in pieces; `feed` tells where the first level past `limit` opens, if it does.

    `reset()` starts a new document (the next line of JSON lines)."""

    limit: int = MAX_DEPTH
    depth: int = 0
    in_string: bool = False
    escaped: bool = False

    def reset(self) -> None:
        self.depth, self.in_string, self.escaped = 0, False, False

    def feed(self, data: bytes) -> int | None:
        """Take the next piece; the offset in it of the opener past the limit, else None.

        Fast path: the piece is reduced in C (escapes, then everything but brackets and quotes, then
        whole strings) to its brackets, whose running depth is summed in C as well."""
        if not data:
            return None
        start = (self.depth, self.in_string, self.escaped)
        text = data
        if self.escaped:
            text, self.escaped = text[1:], False
        if b"\\" in text:
            text = _ESCAPE.sub(b"", text)
            if text.endswith(b"\\"):  # an escape whose character is in the next piece
                text, self.escaped = text[:-1], True
        marks = text.translate(None, _NOT_STRUCTURE)
        if self.in_string:
            marks = b'"' + marks
        # Two quotes in a row enclose no bracket: dropping them changes no other mark's side of a string.
        marks = marks.replace(b'""', b"")
        if b'"' in marks:
            marks = _STRING.sub(b"", marks)
        opened = marks.find(b'"')
        self.in_string = opened >= 0
        if self.in_string:
            marks = marks[:opened]
        steps = marks.translate(_STEPS)
        deepest = max(map(sub, accumulate(steps), range(1, len(steps) + 1)), default=0)
        if self.depth + deepest > self.limit:
            self.depth, self.in_string, self.escaped = start
            return self._locate(data)
        self.depth += sum(steps) - len(steps)
        return None

    def _locate(self, data: bytes) -> int:
        """Byte by byte from the state before `data`: where the level past the limit opens."""
        depth, in_string, escaped = self.depth, self.in_string, self.escaped
        for offset, byte in enumerate(data):
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif in_string:
                in_string = byte != 0x22
            elif byte == 0x22:
                in_string = True
            elif byte in (0x5B, 0x7B):  # [ {
                depth += 1
                if depth > self.limit:
                    return offset
            elif byte in (0x5D, 0x7D):  # ] }
                depth -= 1
        raise AssertionError("the fast path found a level past the limit that is not there")


def too_deep_at(document: bytes, limit: int = MAX_DEPTH) -> int | None:
    """Where a whole JSON document first nests past `limit`, or None."""
    return NestingGauge(limit).feed(document)


def line_and_column(document: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of a byte offset."""
    line_start = document.rfind(b"\n", 0, offset) + 1
    return document.count(b"\n", 0, offset) + 1, offset - line_start + 1
