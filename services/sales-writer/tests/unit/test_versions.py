"""Version rules: If-Match parsing, ETags, monotonic versions, what an import does."""

from __future__ import annotations

import pytest

from supply_sales_writer.domain.model import (
    MalformedPrecondition,
    PreconditionRequired,
    Stored,
    VersionMismatch,
    check_version,
    etag,
    import_action,
    parse_if_match,
    version_after_delete,
)


@pytest.mark.parametrize(
    ("header", "versions"),
    [('"3"', {3}), ("3", {3}), (' "2" , "5"', {2, 5}), ('"1234567890"', {1234567890}), ('W/"2", "5"', {5})],
)
def test_if_match_names_the_versions_it_accepts(header: str, versions: set[int]) -> None:
    assert parse_if_match(header) == versions


@pytest.mark.parametrize("header", ['W/"3"', 'W/"3", W/"4"'])
def test_a_weak_etag_matches_no_version(header: str) -> None:
    # If-Match uses the strong comparison (RFC 9110): a weak tag never matches, not even its own version.
    with pytest.raises(VersionMismatch):
        check_version(parse_if_match(header), 3)


@pytest.mark.parametrize("header", [None, "", "  "])
def test_a_missing_if_match_is_a_required_precondition(header: str | None) -> None:
    with pytest.raises(PreconditionRequired):
        parse_if_match(header)


@pytest.mark.parametrize("header", ["*", '"0"', '"-1"', '"abc"', '"3', "3.0", '"12345678901"', '"1",'])
def test_an_unreadable_if_match_is_malformed(header: str) -> None:
    with pytest.raises(MalformedPrecondition):
        parse_if_match(header)


def test_etag_round_trips() -> None:
    assert parse_if_match(etag(42)) == {42}


def test_a_stale_version_reports_the_current_one() -> None:
    check_version(frozenset({2}), 2)
    with pytest.raises(VersionMismatch) as caught:
        check_version(frozenset({1}), 2)
    assert caught.value.current == 2


def test_versions_continue_after_a_delete() -> None:
    assert version_after_delete(None) == 1
    assert version_after_delete(3) == 4


def test_import_actions() -> None:
    for mode in ("fail", "skip", "overwrite"):
        assert import_action(Stored(), "h", mode) == ("create", 1)
        assert import_action(Stored(deleted_version=5), "h", mode) == ("create", 6)
        assert import_action(Stored(version=2, content_hash="h"), "h", mode) == ("unchanged", None)
    assert import_action(Stored(version=2, content_hash="h"), "other", "overwrite") == ("update", 3)
    assert import_action(Stored(version=2, content_hash="h"), "other", "skip") == ("skip", None)
    assert import_action(Stored(version=2, content_hash="h"), "other", "fail") == ("refuse", None)
