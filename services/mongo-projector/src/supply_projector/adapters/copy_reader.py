"""The copy's side of drift control: each document's id, version and content hash, in id order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from bson import ObjectId
from pydantic import ValidationError
from pymongo.collection import Collection

from supply_common.contract import METADATA_FIELD, from_document, sale_hash
from supply_projector.domain.money import decode
from supply_projector.service_layer.reconcile import INVALID, Entry


def copy_entry(document: dict[str, Any]) -> Entry:
    """Version from the metadata; hash recomputed from the content (money as the projector stores it
    on either server), and `INVALID` when the content does not validate or does not match the hash
    stored beside it."""
    document = decode(document, "double")
    metadata = document.get(METADATA_FIELD) or {}
    version = metadata.get("version")
    try:
        content_hash = sale_hash(from_document(document))
    except (ValidationError, ValueError, TypeError):
        content_hash = INVALID
    if metadata.get("hash") != content_hash:
        content_hash = INVALID
    return Entry(str(document["_id"]), int(version) if isinstance(version, int) else 0, content_hash)


class MongoCopy:
    """The sales collection and, beside it, the tombstones (`sale_tombstones`)."""

    def __init__(
        self, collection: Collection[Any], tombstones: Collection[Any] | None = None, batch_size: int = 1000
    ) -> None:
        self.collection = collection
        self.tombstones = tombstones
        self.batch_size = batch_size

    def estimated_count(self) -> int:
        return int(self.collection.estimated_document_count())

    def entries(self, after: str | None = None) -> Iterator[Entry]:
        """Every document with an ObjectId `_id` after `after`, in `_id` order (equal to hex order)."""
        while True:
            query: dict[str, Any] = {"_id": {"$gt": ObjectId(after)}} if after else {"_id": {"$gte": _FIRST}}
            page = list(self.collection.find(query).sort("_id", 1).limit(self.batch_size))
            for document in page:
                yield copy_entry(document)
            if len(page) < self.batch_size:
                return
            after = str(page[-1]["_id"])

    def odd_ids(self) -> list[str]:
        """Ids that are not ObjectIds: never a sale's."""
        found = self.collection.find({"_id": {"$not": {"$type": "objectId"}}}, {"_id": 1})
        return [str(document["_id"]) for document in found]

    def get(self, sale_id: str) -> Entry | None:
        document = self.collection.find_one({"_id": _key(sale_id)})
        return copy_entry(document) if document is not None else None

    def delete(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        return int(self.collection.delete_many({"_id": {"$in": [_key(i) for i in ids]}}).deleted_count)

    def deleted_version(self, sale_id: str) -> int | None:
        if self.tombstones is None:
            return None
        found = self.tombstones.find_one({"_id": sale_id}, {"version": 1})
        return int(found["version"]) if found is not None else None

    def rewind(self, sale_id: str, version: int) -> None:
        """Only the version moves; the content stays until the repair event at `version` replaces it.
        Guarded by the version, so a newer write that lands meanwhile is rewound too and then
        overwritten by the repair event, which carries what MySQL holds when it is emitted."""
        self.collection.update_one({"_id": _key(sale_id), VERSION: {"$gt": version}}, {"$set": {VERSION: version}})
        if self.tombstones is not None:
            self.tombstones.delete_one({"_id": sale_id, "version": {"$gte": version}})


_FIRST = ObjectId("0" * 24)
VERSION = f"{METADATA_FIELD}.version"


def _key(sale_id: str) -> ObjectId | str:
    return ObjectId(sale_id) if ObjectId.is_valid(sale_id) else sale_id
