"""The composition root: settings in, wired adapters and use cases out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database

from supply_projector.adapters.mongo import ActiveCollection, MoneyModeOf, MongoStore, connect
from supply_projector.adapters.reads import SalesReader
from supply_projector.adapters.rollup_reader import RollupReader
from supply_projector.adapters.words import MongoWords
from supply_projector.config import ProjectorSettings
from supply_projector.service_layer.ports import DeadLetters
from supply_projector.service_layer.projector import Projector
from supply_projector.service_layer.vocabulary import Vocabulary


@dataclass
class Container:
    settings: ProjectorSettings
    client: MongoClient[dict[str, Any]]
    database: Database[dict[str, Any]]
    mode: MoneyModeOf
    active: ActiveCollection
    store: MongoStore
    reader: SalesReader
    rollups: RollupReader
    vocabulary: Vocabulary

    def projector(self, dead_letters: DeadLetters | None) -> Projector:
        return Projector(self.store, dead_letters, flush_every_s=self.settings.rollup_flush_interval_s)

    def close(self) -> None:
        self.client.close()


def bootstrap(settings: ProjectorSettings | None = None, *, collection: str | None = None) -> Container:
    """Wire the MongoDB side. `collection` pins the sales collection (a rebuild's target) instead of
    following the active-collection alias. Nothing here talks to a server yet."""
    settings = settings or ProjectorSettings()
    client = connect(settings.mongo_url.get_secret_value())
    database = client[settings.mongo_database]
    mode = MoneyModeOf(client, settings.money_mode)
    active = ActiveCollection(database, ttl_s=settings.active_cache_s, fixed=collection)
    store = MongoStore(database, mode, active)
    reader = SalesReader(database, mode, active)
    rollups = RollupReader(database, active.name)
    vocabulary = Vocabulary(MongoWords(database, active.name))
    return Container(settings, client, database, mode, active, store, reader, rollups, vocabulary)
