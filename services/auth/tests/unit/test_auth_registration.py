"""Registering, the password link and invitations, against in-memory fakes of the account ports:
what a person following the mailed links would see."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from supply_auth.service_layer.errors import (
    AlreadyConfirmed,
    EmailTaken,
    InvalidCredentials,
    InvalidInput,
    InvalidPasswordLink,
    InvalidRefreshToken,
)
from supply_auth.service_layer.sessions import subject

from .fakes import EMAIL, PASSWORD, STRANGER, manager, registered, user_id, world

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
    first = registered(w, "Mallory")
    newest = registered(w, "Ada")

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
    token = registered(w, "Ada")

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


def test_command_line_accounts_take_over_an_unconfirmed_registration_only() -> None:
    w = world()
    squatter_link = registered(w, "Mallory")

    made = w.accounts.create_account(email=EMAIL, password=PASSWORD, name="Ada", role="technical_worker")

    assert made.email_confirmed
    assert made.role == "technical_worker"
    with pytest.raises(InvalidPasswordLink):
        w.accounts.set_password(squatter_link, STRANGER)
    with pytest.raises(EmailTaken):
        w.accounts.create_account(email=EMAIL, password=PASSWORD, name="Ada", role="customer")


def test_an_invited_person_chooses_their_own_password_through_the_mailed_link() -> None:
    w = world()
    boss = manager(w)
    squatter_link = registered(w, "Mallory")

    invited = w.staff.invite_user(actor_id=boss, email=EMAIL, name="Ada", role="technical_worker")

    assert not invited.email_confirmed
    assert invited.password_hash is None
    assert w.outbox.to(EMAIL)[-1].subject.startswith("You are invited")
    with pytest.raises(InvalidPasswordLink):
        w.accounts.set_password(squatter_link, STRANGER)
    with pytest.raises(InvalidCredentials):
        w.sessions.login(email=EMAIL, password=STRANGER, client="198.51.100.7")
    assert w.accounts.set_password(w.outbox.token_to(EMAIL), PASSWORD).access_token
    assert w.store.state.users[invited.id].email_confirmed
    assert w.store.state.users[invited.id].role == "technical_worker"
    with pytest.raises(EmailTaken):
        w.staff.invite_user(actor_id=boss, email=EMAIL, name="Ada", role="customer")


def test_a_new_link_is_mailed_only_to_an_account_still_without_a_password() -> None:
    w = world()
    boss = manager(w)
    first = registered(w, "Ada")

    assert w.accounts.resend_link(email=EMAIL.upper()) is True
    assert w.accounts.resend_link(email="nobody@example.com") is False
    with pytest.raises(InvalidPasswordLink):
        w.accounts.set_password(first, PASSWORD)
    w.accounts.set_password(w.outbox.token_to(EMAIL), PASSWORD)
    sent = len(w.outbox.sent)
    assert w.accounts.resend_link(email=EMAIL) is False
    with pytest.raises(AlreadyConfirmed):
        w.staff.resend_link(actor_id=boss, user_id=user_id(w))
    assert len(w.outbox.sent) == sent
