"""Remembered results of creates made with an Idempotency-Key, per user: a key names one of the
caller's own requests, and another user's equal key is another key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from supply_sales_writer.adapters.repository import db_time, from_db_time
from supply_sales_writer.adapters.schema import idempotency_keys
from supply_sales_writer.service_layer.ports import Remembered


class IdempotencyStore:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def find(self, user_id: str, key: str) -> Remembered | None:
        row = self.connection.execute(
            select(idempotency_keys).where(idempotency_keys.c.user_id == user_id, idempotency_keys.c.idem_key == key)
        ).first()
        if row is None:
            return None
        return Remembered(
            row.request_hash, row.sale_id, row.version, row.status_code, row.response, from_db_time(row.created_at)
        )

    def forget(self, user_id: str, key: str) -> None:
        self.connection.execute(
            delete(idempotency_keys).where(idempotency_keys.c.user_id == user_id, idempotency_keys.c.idem_key == key)
        )

    def remember(self, user_id: str, key: str, entry: Remembered) -> None:
        self.connection.execute(
            insert(idempotency_keys).values(
                user_id=user_id,
                idem_key=key,
                request_hash=entry.request_hash,
                sale_id=entry.sale_id,
                version=entry.version,
                status_code=entry.status_code,
                response=entry.response,
                created_at=db_time(entry.created_at),
            )
        )

    def purge(self, created_before: datetime) -> int:
        result = self.connection.execute(
            delete(idempotency_keys).where(idempotency_keys.c.created_at < db_time(created_before))
        )
        return result.rowcount
