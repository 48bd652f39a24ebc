"""The collections that can hold the copy, for a rebuild: a fresh one is filled, then swapped in.

A copy is a sales collection and its rollup collections (named after it). The swap points the alias
document that readers and the live consumers follow at the new sales collection, which brings its
rollups along in the same single-document write; the old collections are dropped by the rebuild
after a grace period. (A `renameCollection` over `sales`, which FerretDB v1 cannot do with
`dropTarget` anyway, would move the sales without their rollups.)
"""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient

from supply_projector.adapters.indexes import ensure_sale_indexes
from supply_projector.adapters.mongo import ActiveCollection, MoneyModeOf, MongoStore, connect
from supply_projector.adapters.rollups import EARLIER_SUFFIXES, rollup_collections
from supply_projector.adapters.words import words_collection
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
        """Indexes, and the rollups marked as covering the whole copy."""
        ensure_sale_indexes(self.database, collection)
        store = self.store(collection)
        store.rollups().mark_built("rebuild")
        store.words().mark_filled()  # every sale's names went in with it

    def swap_in(self, collection: str) -> tuple[str, str]:
        self.alias.point_to(collection)
        return collection, "alias"

    def drop(self, collection: str) -> None:
        earlier = (collection + s for s in EARLIER_SUFFIXES)
        for name in (collection, *rollup_collections(collection), words_collection(collection), *earlier):
            self.database.drop_collection(name)

    def count(self, collection: str) -> int:
        return int(self.database[collection].count_documents({}))
