from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from supply_auth.adapters.common_passwords import common_passwords
from supply_auth.domain.model import (
    USER_ID,
    DomainError,
    new_user_id,
    normalise_email,
    validate_email,
    validate_name,
    validate_role,
)
from supply_auth.domain.passwords import check_password
from supply_auth.domain.throttle import Attempts, Limits, ThrottlePolicy
from supply_common.contract import Customer


def test_emails_are_trimmed_and_case_folded():
    assert normalise_email("  Ada.Lovelace@Example.COM\t") == "ada.lovelace@example.com"
    assert validate_email("O'Brien@Example.ie") == "o'brien@example.ie"


@pytest.mark.parametrize(
    "email",
    ["", "plain", "a@b", "@example.com", "a b@example.com", "a@@example.com", "a@example."],
)
def test_malformed_emails_are_refused(email):
    with pytest.raises(DomainError) as error:
        validate_email(email)
    assert error.value.field == "email"


@pytest.mark.parametrize(
    "email",
    [
        "cauho@witwuta.sv",
        "o'brien@example.ie",
        "ünïcødé@example.com",
        "a..b@example.com",
        '"q"@example.com',
        "<b>x</b>@example.com",
        "a<script>alert(1)</script>@example.com",
        "x@localhost",
        "x@example.invalid",
        "a.@example.com",
        "x" * 65 + "@e.com",
    ],
)
def test_an_account_address_is_exactly_one_the_sale_contract_accepts(email):
    """One email rule for accounts and sales: a customer whose address a sale cannot name would
    never see a purchase."""
    try:
        Customer(gender="F", age=30, email=email, satisfaction=4)
        sale_accepts = True
    except ValueError:
        sale_accepts = False
    try:
        validate_email(email)
        account_accepts = True
    except DomainError:
        account_accepts = False
    assert account_accepts == sale_accepts


@pytest.mark.parametrize("name", ["", "   ", "tab\there", "zero\u200bwidth", "n" * 101])
def test_bad_names_are_refused(name):
    with pytest.raises(DomainError):
        validate_name(name)


def test_roles_are_the_three_known_ones():
    assert validate_role("technical_worker") == "technical_worker"
    with pytest.raises(DomainError):
        validate_role("admin")


def test_user_ids_are_26_characters_and_ordered_by_time():
    earlier, later = new_user_id(1_700_000_000_000), new_user_id(1_700_000_000_001)
    assert USER_ID.match(earlier)
    assert earlier < later
    assert len({new_user_id() for _ in range(1000)}) == 1000


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("elevenchars", "at least 12"),
        ("p" * 60 + "q" * 69, "at most 128"),
        ("123456654321", "common"),
        ("Password1234", "common"),
        ("ada@example.com", "email"),
        ("  ADA  ", "at least 12"),
        ("abababababababab", "repeated"),
    ],
)
def test_password_policy(password, reason):
    with pytest.raises(DomainError) as error:
        check_password(password, common_passwords(), email="ada@example.com", name="Ada")
    assert reason in error.value.reason


def test_long_passphrases_without_composition_pass():
    check_password("correct horse battery staple", common_passwords(), email="ada@example.com")
    check_password("ünïcødé pässwörd", common_passwords())


def test_the_common_list_is_the_maintained_zxcvbn_list():
    assert len(common_passwords()) >= 30_000 - 100
    assert "qwerty123456" in common_passwords()


POLICY = ThrottlePolicy(
    window_s=900,
    account=Limits(slowdown_after=3, lock_after=5),
    address=Limits(slowdown_after=10, lock_after=30),
    slowdown_base_s=1,
    lock_base_s=60,
    lock_max_s=900,
)


def test_throttle_slows_down_then_locks_with_a_cap():
    waits = [POLICY.wait_after(n, POLICY.account) for n in range(1, 12)]
    assert waits == [0, 0, 1, 2, 60, 120, 240, 480, 900, 900, 900]
    assert POLICY.wait_after(10_000, POLICY.account) == 900


def test_address_limits_are_looser_than_account_limits():
    assert POLICY.wait_after(9, POLICY.address) == 0
    assert POLICY.wait_after(10, POLICY.address) == 1
    assert POLICY.wait_after(30, POLICY.address) == 60


T0 = datetime(2024, 5, 1, 12, 0, 0)


def test_counting_an_attempt_starts_the_wait_its_count_earns_from_now():
    empty = Attempts(0, T0, None)
    counts = [empty]
    for second in range(1, 6):
        counts.append(POLICY.count(counts[-1], POLICY.account, T0 + timedelta(seconds=second)))
    assert [c.failures for c in counts[1:]] == [1, 2, 3, 4, 5]
    assert counts[2].blocked_until is None
    assert counts[3].blocked_until == T0 + timedelta(seconds=3 + 1)
    assert counts[5].blocked_until == T0 + timedelta(seconds=5 + 60)
    assert all(c.window_started_at == T0 for c in counts)


def test_counting_never_shortens_a_running_wait_and_a_lapsed_window_starts_again():
    locked = Attempts(7, T0, T0 + timedelta(seconds=900))
    assert POLICY.count(locked, POLICY.account, T0 + timedelta(seconds=10)).blocked_until == locked.blocked_until

    later = T0 + timedelta(seconds=POLICY.window_s + 1)
    restarted = POLICY.count(Attempts(7, T0, None), POLICY.account, later)
    assert restarted == Attempts(1, later, None)
    assert restarted.blocked_at(later) is False
    assert Attempts(1, T0, later).blocked_at(T0) is True
