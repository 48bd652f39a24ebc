"""What a verifier refuses after account events, whatever order and how often they arrive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from supply_common.contract.account_events import AccountEvent, account_event
from supply_common.revocations import Revocations
from supply_common.testing.clock import ManualClock

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def event(
    user: str = "U1",
    *,
    generation: int = 0,
    sessions: tuple[tuple[str, datetime], ...] = (),
    kind: str = "account.logged_out",
) -> AccountEvent:
    return account_event(
        kind,  # type: ignore[arg-type]
        user_id=user,
        occurred_at=NOW,
        token_generation=generation,
        revoked_sessions=sessions,
        role="technical_worker",
        disabled=False,
    )


def claims(user: str = "U1", *, gen: int | None = 0, sid: str | None = "S1") -> dict[str, object]:
    found: dict[str, object] = {"sub": user, "role": "technical_worker"}
    if gen is not None:
        found["gen"] = gen
    if sid is not None:
        found["sid"] = sid
    return found


def test_tokens_of_an_earlier_generation_are_refused_and_later_ones_accepted() -> None:
    revocations = Revocations(ManualClock(NOW.timestamp()))
    revocations.apply(event(generation=2, kind="account.role_changed"))
    assert revocations.is_revoked(claims(gen=1))
    assert revocations.is_revoked(claims(gen=None))  # issued before tokens carried a generation
    assert not revocations.is_revoked(claims(gen=2))
    assert not revocations.is_revoked(claims("U2", gen=0))


def test_a_revoked_session_refuses_its_tokens_only_and_only_while_they_could_live() -> None:
    clock = ManualClock(NOW.timestamp())
    revocations = Revocations(clock)
    revocations.apply(event(sessions=(("S1", NOW + timedelta(minutes=6)),)))
    assert revocations.is_revoked(claims(sid="S1"))
    assert not revocations.is_revoked(claims(sid="S2"))
    clock.now += 6 * 60 + 1
    assert not revocations.is_revoked(claims(sid="S1"))
    assert revocations.prune() == 1
    assert len(revocations) == 0


def test_an_older_event_applied_late_or_twice_takes_nothing_back() -> None:
    revocations = Revocations(ManualClock(NOW.timestamp()))
    newer = event(generation=3, sessions=(("S1", NOW + timedelta(minutes=6)),), kind="account.disabled")
    older = event(generation=1, kind="account.role_changed")
    for applied in (newer, older, newer, older):
        revocations.apply(applied)
    assert revocations.is_revoked(claims(gen=2, sid="S9"))
    assert revocations.is_revoked(claims(gen=3, sid="S1"))
    assert not revocations.is_revoked(claims(gen=3, sid="S9"))


def test_accounts_with_nothing_to_refuse_are_not_kept() -> None:
    revocations = Revocations(ManualClock(NOW.timestamp()))
    revocations.apply(event(kind="account.enabled"))
    assert len(revocations) == 0


def test_events_round_trip_and_unknown_fields_are_ignored() -> None:
    sent = event(generation=4, sessions=(("S1", NOW + timedelta(minutes=6)),))
    assert AccountEvent.decode(sent.encode()) == sent
    assert AccountEvent.decode(sent.encode()[:-1] + b',"later_field":1}') == sent
    assert sent.key == b"U1"


@pytest.mark.parametrize(
    "value",
    [b"not json", b"{}", b'{"event_type":"account.deleted"}', b"[1]"],
)
def test_what_is_not_an_event_is_refused(value: bytes) -> None:
    with pytest.raises(ValueError):
        AccountEvent.decode(value)
