"""Login with its throttle, refresh rotation and logout, against in-memory fakes of the account
ports: what a person signing in, or a client holding tokens, would see."""

from __future__ import annotations

import pytest

from supply_auth.domain.throttle import Limits
from supply_auth.service_layer.errors import (
    InvalidCredentials,
    InvalidRefreshToken,
    NotAuthenticated,
    Throttled,
)

from .fakes import EMAIL, PASSWORD, manager, world

# -- login and its throttle -----------------------------------------------------------------------


def test_an_unknown_email_costs_a_hash_verification_like_a_wrong_password() -> None:
    w = world()

    with pytest.raises(InvalidCredentials):
        w.sessions.login(email="nobody@example.com", password=PASSWORD, client="198.51.100.7")

    assert w.hasher.verified == 1


def test_failures_slow_an_account_at_one_address_down_then_lock_it_there_and_the_wait_ends() -> None:
    w = world(slowdown_after=2, lock_after=3)
    w.accounts.create_account(email=EMAIL, password=PASSWORD, name="Ada", role="customer")
    here = "203.0.113.66"

    def guess() -> None:
        with pytest.raises(InvalidCredentials):
            w.sessions.login(email=EMAIL, password="a wrong guess here", client=here)

    guess()
    guess()  # the second failure earns a 1 s wait
    with pytest.raises(Throttled) as waited:
        w.sessions.login(email=EMAIL, password=PASSWORD, client=here)
    assert waited.value.retry_after_s == 1
    w.clock.advance(1)
    guess()  # the third failure locks for 60 s
    with pytest.raises(Throttled) as locked:
        w.sessions.login(email=EMAIL, password=PASSWORD, client=here)
    assert locked.value.retry_after_s == 60
    assert w.sessions.login(email=EMAIL, password=PASSWORD, client="198.51.100.7").access_token
    w.clock.advance(60)

    assert w.sessions.login(email=EMAIL, password=PASSWORD, client=here).access_token
    guess()  # the success cleared the count of the account at this address: no wait again
    guess()
    with pytest.raises(Throttled):
        w.sessions.login(email=EMAIL, password=PASSWORD, client=here)


def test_a_strangers_guesses_never_lock_the_owner_out_of_an_address_they_signed_in_from() -> None:
    w = world(slowdown_after=2, lock_after=3, account_limits=Limits(2, 3))
    w.accounts.create_account(email=EMAIL, password=PASSWORD, name="Ada", role="senior_management")
    office, new_laptop = "198.51.100.7", "192.0.2.44"
    w.sessions.login(email=EMAIL, password=PASSWORD, client=office)

    for i in range(3):  # from three addresses, each waiting out the last: the account-wide count locks
        with pytest.raises(InvalidCredentials):
            w.sessions.login(email=EMAIL, password="a wrong guess here", client=f"203.0.113.{i}")
        w.clock.advance(1)

    with pytest.raises(Throttled) as locked:
        w.sessions.login(email=EMAIL, password=PASSWORD, client=new_laptop)
    assert locked.value.retry_after_s == 59
    assert w.sessions.login(email=EMAIL, password=PASSWORD, client=office).access_token
    assert w.clock.slept == [2]


def test_a_disabled_account_gets_the_same_answer_as_a_wrong_password() -> None:
    w = world()
    boss = manager(w)
    worker = w.accounts.create_account(email=EMAIL, password=PASSWORD, name="Ada", role="technical_worker")
    w.staff.change_user(actor_id=boss, user_id=worker.id, role=None, disabled=True)

    with pytest.raises(InvalidCredentials):
        w.sessions.login(email=EMAIL, password=PASSWORD, client="198.51.100.7")
    with pytest.raises(NotAuthenticated):
        w.accounts.me(worker.id)


# -- refresh rotation and logout ------------------------------------------------------------------


def test_a_refresh_token_works_once_and_its_reuse_revokes_the_whole_login() -> None:
    w = world()
    w.accounts.create_account(email=EMAIL, password=PASSWORD, name="Ada", role="customer")
    first = w.sessions.login(email=EMAIL, password=PASSWORD, client="198.51.100.7")

    second = w.sessions.refresh(first.refresh_token)
    with pytest.raises(InvalidRefreshToken):
        w.sessions.refresh(first.refresh_token)
    with pytest.raises(InvalidRefreshToken):
        w.sessions.refresh(second.refresh_token)

    other = w.sessions.login(email=EMAIL, password=PASSWORD, client="198.51.100.7")
    assert w.sessions.refresh(other.refresh_token).refresh_token != other.refresh_token


def test_a_login_expires_as_a_whole_and_logout_ends_only_the_callers_own() -> None:
    w = world()
    ada = w.accounts.create_account(email=EMAIL, password=PASSWORD, name="Ada", role="customer")
    bob = w.accounts.create_account(email="bob@example.com", password=PASSWORD, name="Bob", role="customer")
    mine = w.sessions.login(email=EMAIL, password=PASSWORD, client="198.51.100.7")
    theirs = w.sessions.login(email="bob@example.com", password=PASSWORD, client="198.51.100.7")

    w.sessions.logout(user_id=ada.id, refresh_token=theirs.refresh_token)
    w.sessions.logout(user_id=bob.id, refresh_token="unknown")
    assert w.sessions.refresh(theirs.refresh_token).access_token
    w.sessions.logout(user_id=ada.id, refresh_token=mine.refresh_token)
    with pytest.raises(InvalidRefreshToken):
        w.sessions.refresh(mine.refresh_token)

    fresh = w.sessions.login(email=EMAIL, password=PASSWORD, client="198.51.100.7")
    w.clock.advance(7 * 24 * 3600)
    with pytest.raises(InvalidRefreshToken):
        w.sessions.refresh(fresh.refresh_token)
