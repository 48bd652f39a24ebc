"""Auth publishes every account change that ends tokens on its account-events topic, through the
outbox: what a verifier reading the topic sees, including after a broker outage."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from aiokafka import TopicPartition
from fastapi.testclient import TestClient

from supply_auth.bootstrap import Container
from supply_auth.entrypoints.app import create_app
from supply_common.contract.account_events import AccountEvent
from supply_common.kafka import account_topics, ensure_topics, make_producer, make_reader
from supply_common.outbox_relay import OutboxRelay
from supply_common.publish_lock import PublishLock
from supply_common.testing.deployment import free_port
from supply_common.testing.fixtures import random_name

from .conftest import Harness

pytestmark = pytest.mark.integration


class RelayThread:
    """An outbox relay running on an event loop of its own, beside the synchronous test client."""

    def __init__(self, relay: OutboxRelay) -> None:
        self.relay = relay
        self.loop = asyncio.new_event_loop()
        self.task: asyncio.Task[None] | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.task = self.loop.create_task(self.relay.run())
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        finally:
            self.loop.close()

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        while self.task is None:
            time.sleep(0.01)
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(15)


def read_events(auth: Container, count: int, timeout_s: float = 15.0) -> list[AccountEvent]:
    """The first `count` records of the topic, from its beginning, as a verifier decodes them."""

    async def read() -> list[AccountEvent]:
        consumer = make_reader(auth.settings)
        await consumer.start()
        try:
            partitions = [TopicPartition(auth.settings.account_events_topic, 0)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            found: list[AccountEvent] = []
            deadline = time.monotonic() + timeout_s
            while len(found) < count and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    found += [AccountEvent.decode(record.value) for record in records if record.value]
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


@dataclass
class Published:
    harness: Harness
    auth: Container
    relays: list[RelayThread]

    def relay(self, producer_factory: Callable[[], Any] | None = None) -> RelayThread:
        """Start a relay of auth's outbox (on the real broker unless given another producer)."""
        settings = self.auth.settings
        factory = producer_factory or (lambda: make_producer(settings, request_timeout_ms=5_000, linger_ms=0))
        self.auth.relay = OutboxRelay(self.auth.engine, factory, PublishLock(self.auth.engine), poll_interval_s=0.1)
        started = RelayThread(self.auth.relay)
        self.relays.append(started)
        return started

    def backlog(self) -> int:
        return self.auth.relay.backlog()

    def settled_backlog(self, timeout_s: float = 5.0) -> int:
        """The backlog once the relay has marked what the broker acknowledged (or after `timeout_s`)."""
        deadline = time.monotonic() + timeout_s
        while self.backlog() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.backlog()


@pytest.fixture
def published(make_harness: Callable[..., Harness], kafka_bootstrap: str) -> Iterator[Published]:
    harness = make_harness(
        kafka_bootstrap_servers=kafka_bootstrap, account_events_topic=random_name("test_auth") + ".account-events"
    )
    asyncio.run(ensure_topics(harness.auth.settings, topics=account_topics))
    found = Published(harness, harness.auth, [])
    yield found
    for relay in found.relays:
        relay.stop()


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def test_every_change_that_ends_tokens_is_published_with_what_to_refuse(published: Published) -> None:
    harness = published.harness
    published.relay()
    boss = harness.create("senior_management")
    worker = harness.create("technical_worker")
    boss_bearer = harness.bearer(boss)

    first = harness.login(worker)
    session = claims_of(first["access_token"])
    assert session["gen"] == 0
    out = harness.client.post(
        "/logout",
        json={"refresh_token": first["refresh_token"]},
        headers={"Authorization": f"Bearer {first['access_token']}"},
    )
    assert out.status_code == 204
    second = claims_of(harness.login(worker)["access_token"])
    for change in ({"role": "customer"}, {"disabled": True}, {"disabled": False}):
        answer = harness.client.patch(f"/users/{worker['id']}", json=change, headers=boss_bearer)
        assert answer.status_code == 200, answer.text

    events = read_events(published.auth, 4)
    assert [(e.event_type, e.user_id, e.token_generation) for e in events] == [
        ("account.logged_out", worker["id"], 0),
        ("account.role_changed", worker["id"], 1),
        ("account.disabled", worker["id"], 2),
        ("account.enabled", worker["id"], 2),
    ]
    assert [s.session_id for s in events[0].revoked_sessions] == [session["sid"]]
    # Each record holds the account's whole state: the last one still names the session logged out
    # and the one the role change ended, so a reader that keeps only it (compaction) refuses both.
    assert {s.session_id for s in events[-1].revoked_sessions} == {session["sid"], second["sid"]}
    assert (events[-1].role, events[-1].disabled) == ("customer", False)
    assert published.settled_backlog() == 0


def test_a_refresh_token_used_twice_publishes_its_session_revoked(published: Published) -> None:
    harness = published.harness
    published.relay()
    worker = harness.create("technical_worker")
    pair = harness.login(worker)
    assert harness.client.post("/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 200
    assert harness.client.post("/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401

    (event,) = read_events(published.auth, 1)
    assert event.event_type == "account.session_revoked"
    assert [s.session_id for s in event.revoked_sessions] == [claims_of(pair["access_token"])["sid"]]


def test_changes_made_while_the_broker_is_away_are_all_published_once_it_is_back(published: Published) -> None:
    harness = published.harness
    nowhere = f"127.0.0.1:{free_port()}"
    settings = published.auth.settings.model_copy(update={"kafka_bootstrap_servers": nowhere})
    away = published.relay(lambda: make_producer(settings, request_timeout_ms=1_000))
    boss = harness.create("senior_management")
    workers = [harness.create("technical_worker") for _ in range(3)]
    boss_bearer = harness.bearer(boss)
    for worker in workers:
        answer = harness.client.patch(f"/users/{worker['id']}", json={"disabled": True}, headers=boss_bearer)
        assert answer.status_code == 200

    time.sleep(1.0)
    assert published.backlog() == 3  # committed with the changes, not published
    assert published.auth.relay.status() == "degraded"
    away.stop()

    published.relay()  # the broker is back
    events = read_events(published.auth, 3)
    assert [(e.event_type, e.user_id) for e in events] == [("account.disabled", w["id"]) for w in workers]
    assert published.settled_backlog() == 0


def test_a_change_that_is_rolled_back_publishes_nothing(published: Published) -> None:
    harness = published.harness
    published.relay()
    boss = harness.create("senior_management")
    answer = harness.client.patch(f"/users/{boss['id']}", json={"disabled": True}, headers=harness.bearer(boss))
    assert answer.status_code == 409  # the last senior manager cannot be disabled
    worker = harness.create("technical_worker")
    harness.client.patch(f"/users/{worker['id']}", json={"role": "customer"}, headers=harness.bearer(boss))

    events = read_events(published.auth, 2, timeout_s=3)
    assert [(e.event_type, e.user_id) for e in events] == [("account.role_changed", worker["id"])]


def test_the_server_process_publishes_its_account_events_itself(published: Published) -> None:
    harness = published.harness
    boss = harness.create("senior_management")
    worker = harness.create("technical_worker")
    with TestClient(create_app(published.auth)) as server:  # its lifespan runs the relay
        login = server.post("/login", json={"email": boss["email"], "password": boss["password"]})
        boss_bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        answer = server.patch(f"/users/{worker['id']}", json={"disabled": True}, headers=boss_bearer)
        assert answer.status_code == 200, answer.text
        (event,) = read_events(published.auth, 1)
        assert (event.event_type, event.user_id, event.disabled) == ("account.disabled", worker["id"], True)
        assert published.settled_backlog() == 0
