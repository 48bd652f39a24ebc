"""Staff management and the account events it records, against in-memory fakes of the account
ports: what a senior manager, and the services reading the events, would see."""

from __future__ import annotations

import pytest

from supply_auth.service_layer.errors import (
    Forbidden,
    InvalidRefreshToken,
    LastSeniorManager,
    NotAuthenticated,
)
from supply_auth.service_layer.ports import UserQuery

from .fakes import EMAIL, PASSWORD, manager, world

# -- staff management -----------------------------------------------------------------------------


def test_only_an_active_senior_manager_manages_users() -> None:
    w = world()
    worker = w.accounts.create_account(email=EMAIL, password=PASSWORD, name="Ada", role="technical_worker")

    with pytest.raises(Forbidden):
        w.staff.list_users(actor_id=worker.id, query=UserQuery())
    with pytest.raises(NotAuthenticated):
        w.staff.list_users(actor_id="01ARZ3NDEKTSV4RRFFQ69G5FAV", query=UserQuery())


def test_users_are_listed_in_pages_in_id_order_by_role() -> None:
    w = world()
    boss = manager(w)
    for i in range(3):
        w.accounts.create_account(email=f"c{i}@example.com", password=PASSWORD, name=f"C{i}", role="customer")

    first = w.staff.list_users(actor_id=boss, query=UserQuery(roles=("customer",), limit=2))
    rest = w.staff.list_users(actor_id=boss, query=UserQuery(roles=("customer",), after=first.next_cursor, limit=2))

    listed = first.items + rest.items
    assert sorted(u.email for u in listed) == ["c0@example.com", "c1@example.com", "c2@example.com"]
    assert [u.id for u in listed] == sorted(u.id for u in listed)
    assert first.next_cursor == first.items[-1].id
    assert rest.next_cursor is None
    assert first.total == rest.total == 3


def test_staff_and_customers_are_searched_and_sorted_apart() -> None:
    w = world()
    boss = manager(w)
    for name, role in (("Zoe Stone", "technical_worker"), ("adam stone", "customer"), ("Ben Rock", "customer")):
        w.accounts.create_account(
            email=f"{name.split()[0].lower()}@example.com", password=PASSWORD, name=name, role=role
        )
    w.sessions.login(email="ben@example.com", password=PASSWORD, client="198.51.100.7")

    staff = w.staff.list_users(
        actor_id=boss, query=UserQuery(roles=("technical_worker", "senior_management"), sort="name")
    )
    stones = w.staff.list_users(actor_id=boss, query=UserQuery(roles=("customer",), search="STONE"))
    recent = w.staff.list_users(actor_id=boss, query=UserQuery(roles=("customer",), sort="last_login", descending=True))
    paged = w.staff.list_users(actor_id=boss, query=UserQuery(sort="email", limit=2, offset=2))

    assert [u.name for u in staff.items] == ["Boss", "Zoe Stone"]
    assert [u.name for u in stones.items] == ["adam stone"]
    assert stones.total == 1
    assert [u.name for u in recent.items] == ["Ben Rock", "adam stone"]
    assert recent.items[0].last_login_at is not None
    assert [u.email for u in paged.items] == ["boss@example.com", "zoe@example.com"]
    assert paged.next_offset is None
    assert paged.total == 4


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


# -- account events ----------------------------------------------------------------------------------


def test_changes_that_end_tokens_record_their_event_with_the_account_and_a_new_generation_when_all_end() -> None:
    w = world()
    boss = manager(w)
    worker = w.accounts.create_account(email=EMAIL, password=PASSWORD, name="Ada", role="technical_worker")
    pair = w.sessions.login(email=EMAIL, password=PASSWORD, client="198.51.100.7")
    w.sessions.logout(user_id=worker.id, refresh_token=pair.refresh_token)
    w.staff.change_user(actor_id=boss, user_id=worker.id, role="customer", disabled=None)
    w.staff.change_user(actor_id=boss, user_id=worker.id, role=None, disabled=True)
    w.staff.change_user(actor_id=boss, user_id=worker.id, role=None, disabled=False)

    assert w.store.state.events == [
        ("account.logged_out", worker.id, 0),
        ("account.role_changed", worker.id, 1),
        ("account.disabled", worker.id, 2),
        ("account.enabled", worker.id, 2),
    ]
    again = w.sessions.login(email=EMAIL, password=PASSWORD, client="198.51.100.7")
    assert again.access_token.endswith(":2")  # issued in the account's current generation


def test_a_change_refused_or_a_login_records_no_event() -> None:
    w = world()
    boss = manager(w)
    w.sessions.login(email="boss@example.com", password=PASSWORD, client="198.51.100.7")
    with pytest.raises(LastSeniorManager):
        w.staff.change_user(actor_id=boss, user_id=boss, role=None, disabled=True)
    assert w.store.state.events == []
