"""The sales-writer's use cases. Each runs in one unit of work; events go to the outbox only."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from bson import ObjectId

from supply_common import tracing
from supply_common.contract import Actor, Sale, SaleBody, canonical, sale_hash
from supply_sales_writer.domain.events import EncodedEvent, change_event
from supply_sales_writer.domain.model import (
    FIRST_VERSION,
    IdempotencyKeyReused,
    OnExisting,
    SaleNotFound,
    check_version,
)
from supply_sales_writer.domain.prepared import Prepared, prepare
from supply_sales_writer.service_layer.importing import Importer
from supply_sales_writer.service_layer.ports import (
    UNSCOPED,
    ConflictCheck,
    Remembered,
    UnitOfWork,
    UnitOfWorkFactory,
    VersionedSale,
)

Clock = Callable[[], datetime]
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


def sale_view(prepared: Prepared, version: int) -> dict[str, Any]:
    """The response shape of one sale."""
    return {"id": prepared.sale.id, "version": version, "sale": prepared.document}


def with_id(body: SaleBody, sale_id: str) -> Sale:
    """The sale of a validated body under an id that is valid (minted here or matched by the route):
    nothing is left to check, so nothing is validated again."""
    return Sale.model_construct(body.model_fields_set | {"id"}, id=sale_id, **body.__dict__)


def request_hash(body: SaleBody, actor: Actor) -> str:
    """Fingerprint of a create request: same user and same content (whatever its formatting)."""
    content = json.dumps(canonical(with_id(body, "0" * 24)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{actor.user_id}\n{content}".encode()).hexdigest()


def history_view(envelope: bytes) -> dict[str, Any]:
    event = json.loads(envelope)
    return {
        "version": event["version"],
        "event_type": event["event_type"],
        "occurred_at": event["occurred_at"],
        "actor": event.get("actor") or {"user_id": None, "role": None},
        "sale": event.get("data"),
    }


def never(_: Exception) -> bool:
    return False


@dataclass(frozen=True)
class Created:
    view: dict[str, Any]
    replayed: bool = False


@dataclass
class SalesService:
    uow: UnitOfWorkFactory
    clock: Clock = utc_now
    idempotency_ttl: timedelta = timedelta(hours=24)
    conflict: ConflictCheck = never
    """Which errors of a unit of work mean it lost to another transaction (run it again)."""

    def retrying(self, attempt: Callable[[], T], tries: int = 3) -> T:
        """Run a whole transaction again after it lost to another one."""
        for remaining in range(tries - 1, -1, -1):
            try:
                return attempt()
            except Exception as exc:
                if remaining == 0 or not self.conflict(exc):
                    raise
                time.sleep(0.01)
        raise AssertionError("unreachable")

    def get(self, sale_id: str) -> VersionedSale:
        with self.uow().snapshot() as uow:
            found = uow.sales.get(sale_id)
        if found is None:
            raise SaleNotFound(sale_id)
        return found

    def create(self, body: SaleBody, actor: Actor, idempotency_key: str | None = None) -> Created:
        if idempotency_key is None:
            return self.create_many([(body, actor)])[0]
        fingerprint = request_hash(body, actor)
        try:
            return self._create(body, actor, idempotency_key, fingerprint)
        except Exception as exc:
            if not self.conflict(exc):  # another request with the key committed first: replay it
                raise
            return self._create(body, actor, idempotency_key, fingerprint)

    def create_many(
        self, requests: Sequence[tuple[SaleBody, Actor]], traceparents: Sequence[str | None] = ()
    ) -> list[Created]:
        """Create several sales (each at version 1 with a new id, each with its created event) in one
        transaction: the write of the group commit. `traceparents`, one per request when given: the
        trace each request's event goes on in. When traced, the transaction is one span in the first
        request's trace, linked to the others'."""

        def attempt() -> list[Created]:
            with self.uow() as uow:
                views = self._insert_new(uow, requests, traceparents)
                uow.commit()
            return [Created(view) for view in views]

        traced = [t for t in traceparents if tracing.records(t)]
        if not traced:
            return self.retrying(attempt)
        first, *others = traced
        with tracing.span(
            "mysql: write creates",
            kind=tracing.SpanKind.CLIENT,
            parent=tracing.parent_from(first),
            links=[tracing.Link(c) for c in map(tracing.context_of, others) if c is not None],
            attributes={"db.system.name": "mysql", "supply.batch_size": len(requests)},
        ):
            return self.retrying(attempt)

    def _insert_new(
        self, uow: UnitOfWork, requests: Sequence[tuple[SaleBody, Actor]], traceparents: Sequence[str | None] = ()
    ) -> list[dict[str, Any]]:
        """Insert each body as a new sale (a new id, version 1) with its created event; their views."""
        written = [prepare(with_id(body, str(ObjectId()))) for body, _ in requests]
        occurred = self.clock()
        uow.sales.add([(p, FIRST_VERSION) for p in written], occurred, fresh_ids=True)
        events = [
            change_event("sale.created", p.sale.id, FIRST_VERSION, occurred, p.document, actor)
            for p, (_, actor) in zip(written, requests, strict=True)
        ]
        if traceparents:
            events = [e._replace(traceparent=t) for e, t in zip(events, traceparents, strict=True)]
        uow.outbox.add(events)
        uow.history.add(events)
        return [sale_view(p, FIRST_VERSION) for p in written]

    def _create(self, body: SaleBody, actor: Actor, key: str, fingerprint: str) -> Created:
        """A keyed create: the key is the caller's own, so only their own earlier request with it is
        replayed (or refused as reused); another user's equal key is not seen."""
        owner = actor.user_id or UNSCOPED
        with self.uow() as uow:
            scope, remembered = owner, uow.idempotency.find(owner, key)
            if remembered is None and owner != UNSCOPED:
                # Remembered before keys were per user: the caller's only if the fingerprint, which
                # covers the user id, is theirs.
                legacy = uow.idempotency.find(UNSCOPED, key)
                if legacy is not None and legacy.request_hash == fingerprint:
                    scope, remembered = UNSCOPED, legacy
            if remembered is not None and remembered.created_at < self.clock() - self.idempotency_ttl:
                uow.idempotency.forget(scope, key)
                remembered = None
            if remembered is not None:
                if remembered.request_hash != fingerprint:
                    raise IdempotencyKeyReused
                return Created(json.loads(remembered.response), replayed=True)
            (view,) = self._insert_new(uow, [(body, actor)])
            uow.idempotency.remember(
                owner, key, Remembered(fingerprint, view["id"], FIRST_VERSION, 201, json.dumps(view), self.clock())
            )
            uow.commit()
        return Created(view)

    def update(self, sale_id: str, body: SaleBody, expected: frozenset[int], actor: Actor) -> dict[str, Any]:
        with self.uow() as uow:
            current = uow.sales.current_version(sale_id, lock=True)
            if current is None:
                raise SaleNotFound(sale_id)
            check_version(expected, current)
            written = prepare(with_id(body, sale_id))
            version = current + 1
            occurred = self.clock()
            uow.sales.replace([(written, version)], occurred)
            events = [change_event("sale.updated", sale_id, version, occurred, written.document, actor)]
            uow.outbox.add(events)
            uow.history.add(events)
            uow.commit()
        return sale_view(written, version)

    def delete(self, sale_id: str, expected: frozenset[int], actor: Actor) -> int:
        with self.uow() as uow:
            current = uow.sales.current_version(sale_id, lock=True)
            if current is None:
                raise SaleNotFound(sale_id)
            check_version(expected, current)
            version = current + 1
            occurred = self.clock()
            uow.sales.remove(sale_id, version, occurred)
            events = [change_event("sale.deleted", sale_id, version, occurred, None, actor)]
            uow.outbox.add(events)
            uow.history.add(events)
            uow.commit()
        return version

    def history(self, sale_id: str, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        """The sale's versions, newest first: who made each (user id and role), when, what kind of
        change, and the sale as it became (None for a delete). A sale with no recorded history and no
        current row is not found; one written before history was kept has an empty history."""
        with self.uow().snapshot() as uow:
            entries = uow.history.versions(sale_id, limit, before)
            exists = bool(entries) or uow.sales.current_version(sale_id) is not None
        if not exists:
            raise SaleNotFound(sale_id)
        return [history_view(entry.envelope) for entry in entries]

    def digest(self, after: str | None, limit: int) -> list[dict[str, Any]]:
        with self.uow().snapshot() as uow:
            page = uow.sales.page(after, limit)
        return [{"id": v.sale.id, "version": v.version, "hash": sale_hash(v.sale)} for v in page]

    def republish(self, ids: Sequence[str] | None, batch: int = 500) -> tuple[int, list[str]]:
        """Re-emit the current state (a deleted id: its delete) as repair events; `None` means all.

        The rows read are share-locked until the repair events are committed: a change of the same
        sale waits, so its event follows the repair in the outbox (and on the compacted topic)
        instead of being overtaken by a repair of the version before it.

        Returns how many events went to the outbox and the ids MySQL has never known.
        """
        count = 0
        unknown: list[str] = []
        if ids is None:
            after: str | None = None
            while True:
                written, after = self.retrying(partial(self._republish_page, after, batch))
                if after is None:
                    return count, unknown
                count += written
        wanted = list(dict.fromkeys(ids))
        for start in range(0, len(wanted), batch):
            chunk = wanted[start : start + batch]
            written, missing = self.retrying(partial(self._republish_ids, chunk))
            count += written
            unknown += missing
        return count, unknown

    def _republish_page(self, after: str | None, batch: int) -> tuple[int, str | None]:
        """Repair events for the sales after `after`; how many, and the last id (None: no more)."""
        with self.uow() as uow:
            page = uow.sales.page(after, batch, share=True)
            if not page:
                return 0, None
            occurred = self.clock()
            uow.outbox.add([self._repair(v, occurred) for v in page])
            uow.commit()
        return len(page), page[-1].sale.id

    def _republish_ids(self, chunk: list[str]) -> tuple[int, list[str]]:
        """Repair events for these ids; how many, and the ids never known."""
        with self.uow() as uow:
            current = uow.sales.many(chunk, share=True)
            found = {v.sale.id for v in current}
            deleted = uow.sales.deleted_versions([i for i in chunk if i not in found], share=True)
            occurred = self.clock()
            events = [self._repair(v, occurred) for v in current]
            events += [
                change_event("sale.deleted", sale_id, version, occurred, None, repair=True)
                for sale_id, version in deleted.items()
            ]
            uow.outbox.add(events)
            uow.commit()
        return len(events), [i for i in chunk if i not in found and i not in deleted]

    @staticmethod
    def _repair(current: VersionedSale, occurred: datetime) -> EncodedEvent:
        document = canonical(current.sale)
        return change_event("sale.updated", current.sale.id, current.version, occurred, document, repair=True)

    def purge_idempotency_keys(self) -> int:
        with self.uow() as uow:
            purged = uow.idempotency.purge(self.clock() - self.idempotency_ttl)
            uow.commit()
        return purged

    def importer(self, actor: Actor | None = None, batch_size: int = 500, on_existing: OnExisting = "fail") -> Importer:
        return Importer(self, actor or Actor(), batch_size, on_existing)
