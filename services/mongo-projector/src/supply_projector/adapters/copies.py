"""The collections that can hold the copy, for a rebuild: a fresh one is filled, then swapped in.

The swap is `renameCollection(dropTarget)` over `sales` where the server has it (MongoDB). FerretDB
v1 lacks `dropTarget`, so there the alias document that readers and the live consumers follow is
pointed at the new collection instead, and the old one is dropped by the rebuild after a grace
period.
"""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure

from supply_projector.adapters.mongo import (
    SALES,
    ActiveCollection,
    MoneyModeOf,
    MongoStore,
    connect,
    ensure_sale_indexes,
    is_not_implemented,
)
from supply_projector.config import ProjectorSettings


class MongoCopies:
    """Implements `service_layer.rebuild.Copies`."""

    def __init__(self, settings: ProjectorSettings) -> None:
        self.client: MongoClient[dict[str, Any]] = connect(settings.mongo_url.get_secret_value())
        self.database = self.client[settings.mongo_database]
        self.mode = MoneyModeOf(self.client, settings.money_mode)
        self.alias = ActiveCollection(self.database, ttl_s=0)

    def close(self) -> None:
        self.client.close()

    def active(self) -> str:
        return self.alias.name()

    def store(self, collection: str) -> MongoStore:
        return MongoStore(self.database, self.mode, ActiveCollection(self.database, fixed=collection))

    def finish(self, collection: str) -> None:
        ensure_sale_indexes(self.database, collection)

    def swap_in(self, collection: str) -> tuple[str, str]:
        try:
            self.client.admin.command(
                "renameCollection",
                f"{self.database.name}.{collection}",
                to=f"{self.database.name}.{SALES}",
                dropTarget=True,
            )
            active, swapped_by = SALES, "rename"
        except OperationFailure as exc:
            if not is_not_implemented(exc):
                raise
            active, swapped_by = collection, "alias"
        self.alias.point_to(active)
        return active, swapped_by

    def drop(self, collection: str) -> None:
        self.database.drop_collection(collection)

    def count(self, collection: str) -> int:
        return int(self.database[collection].count_documents({}))
