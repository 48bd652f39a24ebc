"""Version rules of a sale: optimistic concurrency, monotonic versions, and what an import does."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

FIRST_VERSION: Final = 1
_ETAG = re.compile(r'^(W/)?"([1-9][0-9]{0,9})"$|^([1-9][0-9]{0,9})$')


class SaleNotFound(Exception):
    def __init__(self, sale_id: str) -> None:
        super().__init__(f"no sale {sale_id}")
        self.sale_id = sale_id


class PreconditionRequired(Exception):
    """A change was asked for without saying which version it was based on."""


class MalformedPrecondition(ValueError):
    pass


class VersionMismatch(Exception):
    def __init__(self, current: int) -> None:
        super().__init__(f"the sale is at version {current}")
        self.current = current


class IdempotencyKeyReused(Exception):
    """The same Idempotency-Key came with a different request."""


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> frozenset[int]:
    """The versions an `If-Match` header accepts: `"3"`, `3`, or a comma-separated list.

    If-Match compares strongly (RFC 9110, 13.1.1): a weak tag such as `W/"3"` is read but matches no
    version, so a header of weak tags only fails as a stale one does (412). A missing header raises
    PreconditionRequired; `*` and anything else unreadable raise MalformedPrecondition (a change must
    name the version it was based on).
    """
    if header is None or not header.strip():
        raise PreconditionRequired
    versions: set[int] = set()
    for part in header.split(","):
        match = _ETAG.match(part.strip())
        if not match:
            raise MalformedPrecondition(f'expected "<version>", got {part.strip()[:40]!r}')
        weak, quoted, bare = match.groups()
        if not weak:
            versions.add(int(quoted or bare))
    return frozenset(versions)


def check_version(expected: frozenset[int], current: int) -> None:
    if current not in expected:
        raise VersionMismatch(current)


def version_after_delete(last_version: int | None) -> int:
    """The first version of a sale created under an id: after a delete, versions keep rising."""
    return FIRST_VERSION if last_version is None else last_version + 1


@dataclass(frozen=True)
class Stored:
    """What is known of an id before an import touches it."""

    version: int | None = None
    content_hash: str | None = None
    deleted_version: int | None = None


ImportAction = Literal["create", "update", "unchanged", "skip", "refuse"]
OnExisting = Literal["fail", "skip", "overwrite"]
"""What an import does with a record whose `_id` names a sale that holds other content: `fail` refuses
the record (reported by line), `skip` leaves the sale as it is (reported by line), `overwrite` makes
the record the sale's next version. A sale with the same content is unchanged in every mode."""


def import_action(stored: Stored, content_hash: str, on_existing: OnExisting) -> tuple[ImportAction, int | None]:
    """The action and the version it writes (None: nothing written). Same content changes nothing; an
    unknown or deleted id is a create; other content goes as `on_existing` says."""
    if stored.version is None:
        return "create", version_after_delete(stored.deleted_version)
    if stored.content_hash == content_hash:
        return "unchanged", None
    if on_existing == "overwrite":
        return "update", stored.version + 1
    return ("skip" if on_existing == "skip" else "refuse"), None
