"""The account use cases (register, the password link, login with its throttle, refresh rotation,
staff management) against in-memory fakes of their ports: what a user or a caller would see."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from supply_auth.service_layer.errors import (
    EmailTaken,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    InvalidPasswordLink,
    InvalidRefreshToken,
    LastSeniorManager,
    NotAuthenticated,
    Throttled,
)
from supply_auth.service_layer.sessions import subject

from .fakes import World, world

EMAIL = "ada@example.com"
PASSWORD = "analytical engine 1843"
STRANGER = "mallory's own passphrase"


def user_id(w: World, email: str = EMAIL) -> str:
    return next(u.id for u in w.store.state.users.values() if u.email == email)


def manager(w: World, email: str = "boss@example.com") -> str:
    return w.accounts.create_account(email=email, password=PASSWORD, name="Boss", role="senior_management").id


# -- registration and the password link ------------------------------------------------------------


def test_a_registration_makes_an_account_without_a_password_and_mails_a_link_to_choose_one() -> None:
    w = world()

    w.accounts.register(email="  Ada@Example.COM ", name="Ada")

    [user] = w.store.state.users.values()
    assert (user.email, user.password_hash, user.email_confirmed) == (EMAIL, None, False)
    [mail] = w.outbox.to(EMAIL)
    assert "https://store.example.com/verify-email?token=" in mail.text
    token = w.outbox.token_to(EMAIL)
    assert w.store.state.links[user.id].token_hash == hashlib.sha256(token.encode()).digest()
    with pytest.raises(InvalidCredentials):
        w.sessions.login(email=EMAIL, password=PASSWORD, client="198.51.100.7")


def test_a_stranger_registers_first_and_only_the_mailbox_owner_ever_signs_in() -> None:
    w = world()
    w.accounts.register(email=EMAIL, name="Mallory")
    with pytest.raises(InvalidCredentials):
        w.sessions.login(email=EMAIL, password=STRANGER, client="203.0.113.66")

    pair = w.accounts.set_password(w.outbox.token_to(EMAIL), PASSWORD)

    assert pair.access_token.startswith(f"access:{user_id(w)}:customer:{EMAIL}")
    with pytest.raises(InvalidCredentials):
        w.sessions.login(email=EMAIL, password=STRANGER, client="203.0.113.66")
    assert w.sessions.login(email=EMAIL, password=PASSWORD, client="198.51.100.7").refresh_token
    assert w.store.state.users[user_id(w)].email_confirmed


def test_registering_again_replaces_the_name_and_the_link() -> None:
    w = world()
    w.accounts.register(email=EMAIL, name="Mallory")
    first = w.outbox.token_to(EMAIL)
    w.accounts.register(email=EMAIL, name="Ada")
    newest = w.outbox.token_to(EMAIL)

    with pytest.raises(InvalidPasswordLink):
        w.accounts.set_password(first, STRANGER)
    w.accounts.set_password(newest, PASSWORD)

    assert [u.name for u in w.store.state.users.values()] == ["Ada"]


def test_registering_a_confirmed_address_changes_nothing_and_tells_its_owner() -> None:
    w = world()
    w.accounts.register(email=EMAIL, name="Ada")
    w.accounts.set_password(w.outbox.token_to(EMAIL), PASSWORD)
    before = w.store.state.users[user_id(w)]

    w.accounts.register(email=EMAIL, name="Mallory")

    assert w.store.state.users[user_id(w)] == before
    assert w.store.state.links == {}
    assert "tried to" in w.outbox.to(EMAIL)[-1].subject
    assert "token=" not in w.outbox.to(EMAIL)[-1].text


def test_a_registration_that_meets_a_lock_conflict_is_tried_again() -> None:
    w = world()
    w.store.conflicts_to_raise = 2

    w.accounts.register(email=EMAIL, name="Ada")

    assert len(w.store.state.users) == 1
    assert len(w.outbox.to(EMAIL)) == 1


def test_a_link_works_once_and_not_after_it_expires() -> None:
    w = world(link_ttl_s=3600)
    w.accounts.register(email=EMAIL, name="Ada")
    w.accounts.register(email="late@example.com", name="Late")
    token, late = w.outbox.token_to(EMAIL), w.outbox.token_to("late@example.com")

    w.accounts.set_password(token, PASSWORD)
    with pytest.raises(InvalidPasswordLink):
        w.accounts.set_password(token, "a second passphrase")
    w.clock.advance(3600)
    with pytest.raises(InvalidPasswordLink):
        w.accounts.set_password(late, PASSWORD)
    with pytest.raises(InvalidPasswordLink):
        w.accounts.set_password("made-up", PASSWORD)


def test_a_password_the_policy_refuses_sets_nothing_and_the_link_keeps_working() -> None:
    w = world()
    w.accounts.register(email=EMAIL, name="Ada")
    token = w.outbox.token_to(EMAIL)

    for weak in ("password1234", "short", EMAIL):
        with pytest.raises(InvalidInput) as refused:
            w.accounts.set_password(token, weak)
        assert [e.field for e in refused.value.errors] == ["password"]
    assert w.store.state.users[user_id(w)].password_hash is None

    w.accounts.set_password(token, PASSWORD)


def test_setting_the_password_through_a_link_ends_every_earlier_login_and_clears_failures() -> None:
    w = world()
    account = w.accounts.create_account(email=EMAIL, password=STRANGER, name="Ada", role="customer")
    earlier = w.sessions.login(email=EMAIL, password=STRANGER, client="203.0.113.66")
    with pytest.raises(InvalidCredentials):
        w.sessions.login(email=EMAIL, password="a wrong guess here", client="203.0.113.66")
    now = w.accounts.now()
    with w.store.uow() as uow:  # a link as an invitation or a reset would mail one
        uow.links.replace(account.id, hashlib.sha256(b"reset-token").digest(), now, now + timedelta(hours=1))
        uow.commit()

    w.accounts.set_password("reset-token", PASSWORD)

    with pytest.raises(InvalidRefreshToken):
        w.sessions.refresh(earlier.refresh_token)
    assert subject("account", EMAIL) not in w.store.state.attempts
    with pytest.raises(InvalidCredentials):
        w.sessions.login(email=EMAIL, password=STRANGER, client="198.51.100.7")


def test_the_link_of_a_disabled_account_sets_nothing() -> None:
    w = world()
    boss = manager(w)
    w.accounts.register(email=EMAIL, name="Ada")
    w.staff.change_user(actor_id=boss, user_id=user_id(w), role=None, disabled=True)

    with pytest.raises(InvalidPasswordLink):
        w.accounts.set_password(w.outbox.token_to(EMAIL), PASSWORD)
    assert w.store.state.users[user_id(w)].password_hash is None


def test_staff_and_command_line_accounts_take_over_an_unconfirmed_registration_only() -> None:
    w = world()
    w.accounts.register(email=EMAIL, name="Mallory")
    squatter_link = w.outbox.token_to(EMAIL)

    made = w.staff.create_user(actor_id=manager(w), email=EMAIL, password=PASSWORD, name="Ada", role="technical_worker")

    assert made.email_confirmed
    assert made.role == "technical_worker"
    with pytest.raises(InvalidPasswordLink):
        w.accounts.set_password(squatter_link, STRANGER)
    with pytest.raises(EmailTaken):
        w.accounts.create_account(email=EMAIL, password=PASSWORD, name="Ada", role="customer")


# -- login and its throttle -----------------------------------------------------------------------


def test_an_unknown_email_costs_a_hash_verification_like_a_wrong_password() -> None:
    w = world()

    with pytest.raises(InvalidCredentials):
        w.sessions.login(email="nobody@example.com", password=PASSWORD, client="198.51.100.7")

    assert w.hasher.verified == 1


def test_failures_slow_the_account_down_then_lock_it_and_the_wait_ends() -> None:
    w = world(slowdown_after=2, lock_after=3)
    w.accounts.create_account(email=EMAIL, password=PASSWORD, name="Ada", role="customer")

    def guess() -> None:
        with pytest.raises(InvalidCredentials):
            w.sessions.login(email=EMAIL, password="a wrong guess here", client="203.0.113.66")

    guess()
    guess()  # the second failure earns a 1 s wait
    with pytest.raises(Throttled) as waited:
        w.sessions.login(email=EMAIL, password=PASSWORD, client="198.51.100.7")
    assert waited.value.retry_after_s == 1
    w.clock.advance(1)
    guess()  # the third failure locks for 60 s
    with pytest.raises(Throttled) as locked:
        w.sessions.login(email=EMAIL, password=PASSWORD, client="198.51.100.7")
    assert locked.value.retry_after_s == 60
    w.clock.advance(60)

    assert w.sessions.login(email=EMAIL, password=PASSWORD, client="198.51.100.7").access_token
    guess()  # the success cleared the account's count: no wait again
    guess()
    with pytest.raises(Throttled):
        w.sessions.login(email=EMAIL, password=PASSWORD, client="198.51.100.7")


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


# -- staff management -----------------------------------------------------------------------------


def test_only_an_active_senior_manager_manages_users() -> None:
    w = world()
    worker = w.accounts.create_account(email=EMAIL, password=PASSWORD, name="Ada", role="technical_worker")

    with pytest.raises(Forbidden):
        w.staff.list_users(actor_id=worker.id, role=None, cursor=None, limit=10)
    with pytest.raises(NotAuthenticated):
        w.staff.list_users(actor_id="01ARZ3NDEKTSV4RRFFQ69G5FAV", role=None, cursor=None, limit=10)


def test_users_are_listed_in_pages_in_id_order_by_role() -> None:
    w = world()
    boss = manager(w)
    for i in range(3):
        w.accounts.create_account(email=f"c{i}@example.com", password=PASSWORD, name=f"C{i}", role="customer")

    first = w.staff.list_users(actor_id=boss, role="customer", cursor=None, limit=2)
    rest = w.staff.list_users(actor_id=boss, role="customer", cursor=first.next_cursor, limit=2)

    listed = first.items + rest.items
    assert sorted(u.email for u in listed) == ["c0@example.com", "c1@example.com", "c2@example.com"]
    assert [u.id for u in listed] == sorted(u.id for u in listed)
    assert first.next_cursor == first.items[-1].id
    assert rest.next_cursor is None


def test_a_role_change_or_disable_ends_the_users_logins_and_the_last_manager_stays() -> None:
    w = world()
    boss = manager(w)
    worker = w.accounts.create_account(email=EMAIL, password=PASSWORD, name="Ada", role="technical_worker")
    login = w.sessions.login(email=EMAIL, password=PASSWORD, client="198.51.100.7")

    changed = w.staff.change_user(actor_id=boss, user_id=worker.id, role="senior_management", disabled=None)

    assert changed.role == "senior_management"
    with pytest.raises(InvalidRefreshToken):
        w.sessions.refresh(login.refresh_token)
    w.staff.change_user(actor_id=worker.id, user_id=boss, role="customer", disabled=None)
    with pytest.raises(LastSeniorManager):
        w.staff.change_user(actor_id=worker.id, user_id=worker.id, role=None, disabled=True)
    assert w.store.state.users[worker.id].role == "senior_management"
