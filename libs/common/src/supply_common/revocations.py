"""Which access tokens are refused before they expire, learned from auth's `auth.account-events`.

`Revocations` is the state (per user: the token generation and the sessions revoked recently), fed by
`AccountEventsReader`, and asked by a token verifier through `RevocationCheck.is_revoked(claims)`
after the signature and expiry checks passed. The reader replays the topic from its beginning before
it reports `caught_up` (a process starting, or restarted, knows every revocation before it serves),
then follows it: a change in auth reaches `is_revoked` as soon as its record is fetched.

The topic is read from all its partitions, outside any consumer group (the client assigns itself
every partition; no group, so no group ACL): every process needs every record, and nothing is
committed (each start replays the compacted topic, which holds one record per account that ever
changed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from supply_common.contract.account_events import GENERATION_CLAIM, SESSION_CLAIM, AccountEvent
from supply_common.kafka import make_reader
from supply_common.settings import KafkaSettings

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class RevocationCheck(Protocol):
    """What a token verifier asks once a token's signature, issuer, audience and expiry are good."""

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """Whether the token with these claims must be refused although it has not expired."""
        ...


class RevocationsUnknown(Exception):
    """The revocations are not known yet (the replay has not ended): no token can be judged, so none
    is accepted (a verifier answers 503, not 401: the token may well be good)."""


class NothingRevoked:
    """`RevocationCheck` for a verifier that is told of no revocation (tools, tests of other things)."""

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        return False


@dataclass
class _Account:
    generation: int = 0
    sessions: dict[str, float] = field(default_factory=dict)
    """Revoked session id -> until when (seconds since the epoch) it still matters."""


class Revocations:
    """`RevocationCheck` over the account events applied so far. Applying is idempotent and
    commutative: the generation only rises and the revoked sessions only accumulate (until they no
    longer matter), so a record applied twice or before an older one changes nothing it should not.
    Accounts with nothing to refuse are not kept."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self._accounts: dict[str, _Account] = {}
        self.applied = 0

    def __len__(self) -> int:
        return len(self._accounts)

    def apply(self, event: AccountEvent) -> None:
        now = self.clock()
        account = self._accounts.get(event.user_id) or _Account()
        account.generation = max(account.generation, event.token_generation)
        for session in event.revoked_sessions:
            until = session.until.timestamp()
            account.sessions[session.session_id] = max(until, account.sessions.get(session.session_id, until))
        account.sessions = {sid: until for sid, until in account.sessions.items() if until > now}
        if account.generation or account.sessions:
            self._accounts[event.user_id] = account
        else:
            self._accounts.pop(event.user_id, None)
        self.applied += 1

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        account = self._accounts.get(str(claims.get("sub", "")))
        if account is None:
            return False
        generation = claims.get(GENERATION_CLAIM, 0)
        if not isinstance(generation, int) or generation < account.generation:
            return True
        session = claims.get(SESSION_CLAIM)
        return isinstance(session, str) and account.sessions.get(session, 0.0) > self.clock()

    def prune(self) -> int:
        """Forget revoked sessions that no longer matter (and accounts left with nothing); how many went."""
        now, gone = self.clock(), 0
        for user_id in list(self._accounts):
            account = self._accounts[user_id]
            live = {sid: until for sid, until in account.sessions.items() if until > now}
            gone += len(account.sessions) - len(live)
            account.sessions = live
            if not account.generation and not live:
                del self._accounts[user_id]
        return gone


ConsumerFactory = Callable[[], AIOKafkaConsumer]


class AccountEventsReader:
    """Feeds `revocations` from the account-events topic until cancelled (`run`). `caught_up` is set
    once every record that was on the topic when the reader (re)connected has been applied; while
    the broker is away the reader keeps what it has and tries again."""

    def __init__(
        self,
        settings: KafkaSettings,
        revocations: Revocations,
        *,
        consumer_factory: ConsumerFactory | None = None,
        retry_s: float = 1.0,
        prune_interval_s: float = 60.0,
    ) -> None:
        self.topic = settings.account_events_topic
        self.revocations = revocations
        # Metadata every 5 s: a topic created after the reader started is found within that.
        self.consumer_factory = consumer_factory or (
            lambda: make_reader(settings, fetch_max_wait_ms=200, metadata_max_age_ms=5_000)
        )
        self.retry_s = retry_s
        self.prune_interval_s = prune_interval_s
        self.caught_up = asyncio.Event()
        self.last_error: str | None = None
        self.skipped = 0

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """`RevocationCheck` that fails closed: `RevocationsUnknown` until the first replay ended."""
        if not self.caught_up.is_set():
            raise RevocationsUnknown("the account events have not been replayed yet")
        return self.revocations.is_revoked(claims)

    async def wait_caught_up(self, timeout_s: float) -> bool:
        """Whether the replay ended within `timeout_s`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.caught_up.wait()
        return self.caught_up.is_set()

    async def run(self) -> None:
        while True:
            consumer = self.consumer_factory()
            try:
                await consumer.start()
                await self._read(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker away: keep what we know, try again
                if self.last_error is None:
                    log.warning("account events unreadable; retrying", extra={"error": repr(exc)[:300]})
                self.last_error = repr(exc)[:300]
            finally:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(5):
                        await consumer.stop()
            await asyncio.sleep(self.retry_s)

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        partitions = await self._assign(consumer)
        pending = {tp: end for tp, end in (await consumer.end_offsets(partitions)).items() if end > 0}
        await self._check_caught_up(consumer, pending)
        next_prune = time.monotonic() + self.prune_interval_s
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            for records in batches.values():
                for record in records:
                    self._apply(record.value, record.topic, record.partition, record.offset)
            self.last_error = None
            if pending:
                await self._check_caught_up(consumer, pending)
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + self.prune_interval_s
                self.revocations.prune()

    async def _assign(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """Every partition of the topic, read from the beginning: subscribed without a group id, the
        client assigns itself all of them (no consumer group, no committed offsets). A topic this
        reader cannot see (not created yet, not yet in the broker's metadata, or not allowed) is
        waited for: the reader is not caught up until it has read the topic, whatever the reason."""
        consumer.subscribe([self.topic])
        waited = 0.0
        while not consumer.assignment():
            if waited >= self.retry_s and self.last_error is None:
                log.warning("account events topic not found yet; waiting", extra={"topic": self.topic})
                self.last_error = f"topic {self.topic} not found"
            await asyncio.sleep(0.05)
            waited += 0.05
        partitions = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        return partitions

    async def _check_caught_up(self, consumer: AIOKafkaConsumer, pending: dict[TopicPartition, int]) -> None:
        """Drop from `pending` the partitions read up to the end they had at the start; caught up
        when none is left."""
        for tp, end in list(pending.items()):
            if await consumer.position(tp) >= end:
                del pending[tp]
        if not pending and not self.caught_up.is_set():
            self.caught_up.set()
            log.info(
                "account events replayed",
                extra={"topic": self.topic, "records": self.revocations.applied, "accounts": len(self.revocations)},
            )

    def _apply(self, value: bytes | None, topic: str, partition: int, offset: int) -> None:
        if value is None:
            return
        try:
            event = AccountEvent.decode(value)
        except (ValidationError, ValueError) as exc:
            self.skipped += 1
            log.error(
                "account event skipped: not an event",
                extra={"topic": topic, "partition": partition, "offset": offset, "error": str(exc)[:300]},
            )
            return
        self.revocations.apply(event)
