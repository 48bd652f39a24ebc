"""Case-insensitive partial search on item names, tags and the customer's email, in forms a store
serves by equality or by a range on an index (neither FerretDB v1 nor its SQLite pushdown serve a
regex or a case-insensitive comparison).

- Item names and tags: every prefix of the text from each word start, in one normal form
  (`normalised`), is written under the metadata field (`item_keys`, `tag_keys`); a search is one
  equality with an array element. A range on an array would not do: MongoDB matches `$gte` and
  `$lt` against any two elements, and FerretDB v1 has no working `$elemMatch`.
- The email: `customer.email` is one string already in its compared form (`normalise_email`), so a
  prefix is a range on it, which its index serves.

Prefixes are at most `KEY_LENGTH` characters: a longer search is cut there (it finds the names that
begin with its first `KEY_LENGTH` characters).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any, Final

from supply_common.email_address import normalise_email

KEY_LENGTH: Final = 24


def normalised(text: str) -> str:
    """NFC, case-folded, runs of white space as one space, trimmed."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def prefixes(texts: Iterable[str]) -> list[str]:
    """Every prefix of each text from each of its word starts, each once, in the order met."""
    keys: dict[str, None] = {}
    for text in texts:
        words = normalised(text)
        starts = [0, *(i + 1 for i, ch in enumerate(words) if ch == " ")]
        for start in starts:
            tail = words[start : start + KEY_LENGTH]
            for end in range(1, len(tail) + 1):
                if not tail[end - 1].isspace():
                    keys.setdefault(tail[:end], None)
    return list(keys)


def search_keys(names: Iterable[str], tags: Iterable[str]) -> dict[str, list[str]]:
    """The metadata fields of a sale's item names and tags."""
    return {"item_keys": prefixes(names), "tag_keys": prefixes(tags)}


def search_key(text: str) -> str:
    """What a search for `text` compares with `item_keys` or `tag_keys`."""
    return normalised(text)[:KEY_LENGTH].rstrip()


def _successor(prefix: str) -> str | None:
    """The first string after every string that starts with `prefix` (None: there is none)."""
    while prefix:
        last = ord(prefix[-1]) + 1
        if last == 0xD800:
            last = 0xE000  # no surrogates in stored strings
        if last <= 0x10FFFF:
            return prefix[:-1] + chr(last)
        prefix = prefix[:-1]
    return None


def email_prefix(text: str) -> dict[str, Any]:
    """The condition on `customer.email` for the emails that start with `text`, in any case."""
    prefix = normalise_email(text.strip())
    bounds: dict[str, Any] = {"$gte": prefix}
    after = _successor(prefix)
    if after is not None:
        bounds["$lt"] = after
    return {"customer.email": bounds}
