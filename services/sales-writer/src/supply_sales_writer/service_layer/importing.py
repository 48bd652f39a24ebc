"""Importing a file of sales: parsed records in, written in batches, one transaction per batch."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from supply_common.contract import Actor, EventType
from supply_sales_writer.domain.events import EncodedEvent, change_event
from supply_sales_writer.domain.importing import Parsed, Rejected
from supply_sales_writer.domain.model import ImportAction, OnExisting, Stored, import_action
from supply_sales_writer.domain.prepared import Prepared, prepare

if TYPE_CHECKING:
    from supply_sales_writer.service_layer.services import SalesService


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    existing: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "errors": self.errors,
            "existing": self.existing,
        }


class Importer:
    """Takes parsed records in order and writes them in batches, one transaction per batch.

    Same content as stored: unchanged (no version, no event). Unknown id: a create (after a delete,
    at the next version). An id whose sale holds other content: as `on_existing` says (a new version
    and an update event only with `overwrite`), and reported by line in `existing`. Records repeating
    an id within a batch close the batch first, so they apply in file order.
    """

    MAX_REPORTED = 1000
    """Most lines listed in `errors`, and in `existing` (the counts cover every line)."""

    def __init__(self, service: SalesService, actor: Actor, batch_size: int, on_existing: OnExisting = "fail") -> None:
        self.service = service
        self.actor = actor
        self.batch_size = batch_size
        self.on_existing: OnExisting = on_existing
        self.result = ImportResult()
        self._pending: dict[str, Parsed] = {}

    def feed(self, records: Iterable[Parsed | Rejected]) -> None:
        for record in records:
            if isinstance(record, Rejected):
                self._reject(record.line, record.reason)
                continue
            if record.sale.id in self._pending:
                self.flush()
            self._pending[record.sale.id] = record
            if len(self._pending) >= self.batch_size:
                self.flush()

    def _reject(self, line: int, reason: str) -> None:
        self.result.rejected += 1
        if len(self.result.errors) < self.MAX_REPORTED:
            self.result.errors.append({"line": line, "reason": reason})

    def flush(self) -> None:
        if self._pending:
            batch = list(self._pending.values())
            outcomes = self.service.retrying(lambda: self._write(batch))
            self._pending.clear()
            for record, (action, version) in zip(batch, outcomes, strict=True):
                self._count(record, action, version)

    def _count(self, record: Parsed, action: ImportAction, version: int | None) -> None:
        result = self.result
        if action == "create":
            result.created += 1
            return
        if action == "unchanged":
            result.unchanged += 1
            return
        if action == "update":
            result.updated += 1
            outcome = "overwritten"
        elif action == "skip":
            result.skipped += 1
            outcome = "skipped"
        else:
            outcome = "refused"
            self._reject(
                record.line,
                f"sale {record.sale.id} exists at version {version} with other content; on_existing=overwrite"
                " makes this record its next version, on_existing=skip leaves it",
            )
        if len(result.existing) < self.MAX_REPORTED:
            result.existing.append({"line": record.line, "id": record.sale.id, "version": version, "outcome": outcome})

    def finish(self) -> ImportResult:
        self.flush()
        return self.result

    def _write(self, batch: list[Parsed]) -> list[tuple[ImportAction, int | None]]:
        """Write one batch; per record its action and the sale's version after it (None: no sale)."""
        with self.service.uow() as uow:
            stored = uow.sales.stored([record.sale.id for record in batch])
            occurred = self.service.clock()
            creates: list[tuple[Prepared, int]] = []
            updates: list[tuple[Prepared, int]] = []
            events: list[EncodedEvent] = []
            outcomes: list[tuple[ImportAction, int | None]] = []
            for record in batch:
                sale = record.sale
                prepared = prepare(sale)
                known = stored.get(sale.id, Stored())
                action, version = import_action(known, prepared.digest, self.on_existing)
                outcomes.append((action, version if version is not None else known.version))
                if version is None:
                    continue
                (creates if action == "create" else updates).append((prepared, version))
                kind: EventType = "sale.created" if action == "create" else "sale.updated"
                events.append(change_event(kind, sale.id, version, occurred, prepared.document, self.actor))
            uow.sales.add(creates, occurred)
            uow.sales.replace(updates, occurred)
            uow.outbox.add(events)
            uow.history.add(events)
            uow.commit()
        return outcomes
