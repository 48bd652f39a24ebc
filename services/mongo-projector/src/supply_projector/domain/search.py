"""Case-insensitive partial search on item names, tags and the customer's email, in forms a store
serves by equality or by a range on an index (neither FerretDB v1 nor its SQLite pushdown serve a
regex or a case-insensitive comparison).

- Item names and tags: a search text matches a name when, in one normal form (`normalised`), it
  starts one of the name's words (or runs on from there: "printer pa" matches "Printer Paper"). The
  copy keeps each sale's item names (`_supply.names`) and tags (`_supply.tags`) as written; the words
  lookup (`word_entries`, kept beside the copy) turns a search text into the names it matches, and
  the search is an equality with one of them. The stored document stays small (a sale's every word
  start written out was half of it, and the copy's writes slowed with it), and a store serves an
  equality with an array element by its index.
- The email: `customer.email` is one string already in its compared form (`normalise_email`), so a
  prefix is a range on it, which its index serves.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any, Literal

from supply_common.email_address import normalise_email

Field = Literal["item", "tag"]


def normalised(text: str) -> str:
    """NFC, case-folded, runs of white space as one space, trimmed."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def word_starts(text: str) -> list[str]:
    """The normal form of `text` from each of its word starts: "Printer Paper" gives "printer
    paper" and "paper"."""
    words = normalised(text)
    return [words[i:] for i, ch in enumerate(words) if i == 0 or words[i - 1] == " "] if words else []


def matches(key: str, text: str) -> bool:
    """Whether the search key `key` (`search_key`) starts one of the words of `text`."""
    return bool(key) and any(start.startswith(key) for start in word_starts(text))


def search_key(text: str) -> str:
    """What a search for `text` compares with the names' word starts."""
    return normalised(text)


def word_entries(field: Field, names: Iterable[str]) -> dict[str, str]:
    """The words lookup's entries for these names or tags: `_id` -> the name. An entry's `_id` starts
    with `key_range`'s bounds for every search key that matches the name."""
    return {f"{field}:{start}|{name}": name for name in dict.fromkeys(names) for start in word_starts(name)}


def key_range(field: Field, key: str) -> dict[str, str]:
    """The `_id` range of the words lookup that holds every entry of a name `key` matches (and maybe
    a few more: the caller keeps the names that `matches`)."""
    low = f"{field}:{key}"
    high = successor(low)
    return {"$gte": low, "$lt": high} if high is not None else {"$gte": low}


def successor(prefix: str) -> str | None:
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
    after = successor(prefix)
    if after is not None:
        bounds["$lt"] = after
    return {"customer.email": bounds}
