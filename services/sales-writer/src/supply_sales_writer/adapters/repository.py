"""Sales in MySQL: one row per sale, item rows and tag rows with their positions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from supply_common.contract import Sale
from supply_sales_writer.adapters.bulk import BulkInsert, PendingWrites
from supply_sales_writer.adapters.schema import deleted_sales, sale_item_tags, sale_items, sales
from supply_sales_writer.domain.model import Stored
from supply_sales_writer.domain.prepared import Prepared
from supply_sales_writer.service_layer.ports import VersionedSale


def db_time(moment: datetime) -> datetime:
    """Naive UTC at millisecond precision, as DATETIME(3) holds it."""
    moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None, microsecond=moment.microsecond // 1000 * 1000)


def from_db_time(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)


# Rows are tuples in the order named here (`_sale_row`, `_insert_lines`).
INSERT_SALE = BulkInsert(
    sales,
    "id",
    "version",
    "sale_date",
    "store_location",
    "purchase_method",
    "coupon_used",
    "customer_gender",
    "customer_age",
    "customer_email",
    "customer_satisfaction",
    "content_hash",
    "created_at",
    "updated_at",
)
INSERT_ITEM = BulkInsert(sale_items, "sale_id", "position", "name", "price", "quantity")
INSERT_TAG = BulkInsert(sale_item_tags, "sale_id", "item_position", "position", "tag")
SALE_COLUMNS = INSERT_SALE.columns


def _sale_row(prepared: Prepared, version: int, now: datetime) -> tuple[Any, ...]:
    """The `sales` row in `SALE_COLUMNS` order (created and updated at `now`)."""
    sale = prepared.sale
    customer = sale.customer
    return (
        sale.id,
        version,
        db_time(sale.saleDate),
        sale.storeLocation,
        sale.purchaseMethod,
        sale.couponUsed,
        customer.gender,
        customer.age,
        customer.email,
        customer.satisfaction,
        prepared.digest,
        now,
        now,
    )


class SaleRepository:
    """Reads and changes go out at once; the INSERTs of new rows wait in `writes` for the commit
    (or for the next statement on the connection)."""

    def __init__(self, connection: Connection, writes: PendingWrites) -> None:
        self.connection = connection
        self.writes = writes

    def current_version(self, sale_id: str, *, lock: bool = False) -> int | None:
        query = select(sales.c.version).where(sales.c.id == sale_id)
        if lock:
            query = query.with_for_update()
        return self.connection.execute(query).scalar_one_or_none()

    def deleted_version(self, sale_id: str, *, lock: bool = False) -> int | None:
        query = select(deleted_sales.c.last_version).where(deleted_sales.c.sale_id == sale_id)
        if lock:
            query = query.with_for_update()
        return self.connection.execute(query).scalar_one_or_none()

    def stored(self, ids: Sequence[str]) -> dict[str, Stored]:
        """Version, content hash and deleted version of each id, locked for the transaction."""
        known: dict[str, Stored] = {}
        if not ids:
            return known
        rows = self.connection.execute(
            select(sales.c.id, sales.c.version, sales.c.content_hash).where(sales.c.id.in_(ids)).with_for_update()
        )
        for sale_id, version, content_hash in rows:
            known[sale_id] = Stored(version=version, content_hash=content_hash)
        deleted = self.connection.execute(
            select(deleted_sales.c.sale_id, deleted_sales.c.last_version)
            .where(deleted_sales.c.sale_id.in_(ids))
            .with_for_update()
        )
        for sale_id, last_version in deleted:
            known.setdefault(sale_id, Stored(deleted_version=last_version))
        return known

    def add(self, entries: Sequence[tuple[Prepared, int]], now: datetime, *, fresh_ids: bool = False) -> None:
        """Insert new sales; ids that were deleted before stop being listed as deleted (`fresh_ids`:
        the ids were just minted, so none can have been)."""
        if not entries:
            return
        now = db_time(now)
        self.writes.add(INSERT_SALE.render(self.connection, [_sale_row(p, v, now) for p, v in entries]))
        self._insert_lines([p.sale for p, _ in entries])
        if not fresh_ids:
            self.connection.execute(
                delete(deleted_sales).where(deleted_sales.c.sale_id.in_([p.sale.id for p, _ in entries]))
            )

    def replace(self, entries: Sequence[tuple[Prepared, int]], now: datetime) -> None:
        """Overwrite existing sales with new content at the given versions."""
        if not entries:
            return
        now = db_time(now)
        ids = [p.sale.id for p, _ in entries]
        self.connection.execute(delete(sale_item_tags).where(sale_item_tags.c.sale_id.in_(ids)))
        self.connection.execute(delete(sale_items).where(sale_items.c.sale_id.in_(ids)))
        for prepared, version in entries:
            row = dict(zip(SALE_COLUMNS, _sale_row(prepared, version, now), strict=True))
            del row["created_at"]
            self.connection.execute(update(sales).where(sales.c.id == row.pop("id")).values(**row))
        self._insert_lines([p.sale for p, _ in entries])

    def remove(self, sale_id: str, last_version: int, now: datetime) -> None:
        self.connection.execute(delete(sale_item_tags).where(sale_item_tags.c.sale_id == sale_id))
        self.connection.execute(delete(sale_items).where(sale_items.c.sale_id == sale_id))
        self.connection.execute(delete(sales).where(sales.c.id == sale_id))
        self.connection.execute(delete(deleted_sales).where(deleted_sales.c.sale_id == sale_id))
        self.connection.execute(
            insert(deleted_sales).values(sale_id=sale_id, last_version=last_version, deleted_at=db_time(now))
        )

    def _insert_lines(self, batch: Iterable[Sale]) -> None:
        items: list[tuple[Any, ...]] = []
        tags: list[tuple[Any, ...]] = []
        for sale in batch:
            sale_id = sale.id
            for position, item in enumerate(sale.items):
                items.append((sale_id, position, item.name, item.price, item.quantity))
                tags.extend((sale_id, position, index, tag) for index, tag in enumerate(item.tags))
        self.writes.add(INSERT_ITEM.render(self.connection, items))
        self.writes.add(INSERT_TAG.render(self.connection, tags))

    def get(self, sale_id: str) -> VersionedSale | None:
        found = self.load(select(sales).where(sales.c.id == sale_id))
        return found[0] if found else None

    # `share`: the rows read are locked in share mode to the end of the transaction, so no change
    # to them commits in between (a change locks its sale's row first, and waits). A transaction
    # that writes events from what it read needs this: its outbox rows then come before those of
    # any later change of the same sales.

    def page(self, after: str | None, limit: int, *, share: bool = False) -> list[VersionedSale]:
        """Sales in id order, starting after `after`."""
        query = select(sales).order_by(sales.c.id).limit(limit)
        if after:
            query = query.where(sales.c.id > after)
        return self.load(query.with_for_update(read=True) if share else query)

    def many(self, ids: Sequence[str], *, share: bool = False) -> list[VersionedSale]:
        if not ids:
            return []
        query = select(sales).where(sales.c.id.in_(ids)).order_by(sales.c.id)
        return self.load(query.with_for_update(read=True) if share else query)

    def deleted_versions(self, ids: Sequence[str], *, share: bool = False) -> dict[str, int]:
        if not ids:
            return {}
        query = select(deleted_sales.c.sale_id, deleted_sales.c.last_version).where(deleted_sales.c.sale_id.in_(ids))
        rows = self.connection.execute(query.with_for_update(read=True) if share else query)
        return {sale_id: version for sale_id, version in rows}

    def count(self) -> int:
        return self.connection.execute(select(func.count()).select_from(sales)).scalar_one()

    def load(self, query: Any) -> list[VersionedSale]:
        """The sales `query` selects, with their items and tags: three SELECTs, which agree only if
        they read one snapshot (`UnitOfWork.snapshot`) or the sales rows are locked (every change
        locks a sale's row first)."""
        rows = self.connection.execute(query).mappings().all()
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in self.connection.execute(
            select(sale_items)
            .where(sale_items.c.sale_id.in_(ids))
            .order_by(sale_items.c.sale_id, sale_items.c.position)
        ).mappings():
            lines[item["sale_id"]].append(
                {"name": item["name"], "tags": [], "price": item["price"], "quantity": item["quantity"]}
            )
        for tag in self.connection.execute(
            select(sale_item_tags)
            .where(sale_item_tags.c.sale_id.in_(ids))
            .order_by(sale_item_tags.c.sale_id, sale_item_tags.c.item_position, sale_item_tags.c.position)
        ).mappings():
            lines[tag["sale_id"]][tag["item_position"]]["tags"].append(tag["tag"])
        return [
            VersionedSale(
                Sale.model_validate(
                    {
                        "_id": row["id"],
                        "saleDate": from_db_time(row["sale_date"]),
                        "items": lines[row["id"]],
                        "storeLocation": row["store_location"],
                        "customer": {
                            "gender": row["customer_gender"],
                            "age": row["customer_age"],
                            "email": row["customer_email"],
                            "satisfaction": row["customer_satisfaction"],
                        },
                        "couponUsed": bool(row["coupon_used"]),
                        "purchaseMethod": row["purchase_method"],
                    }
                ),
                row["version"],
            )
            for row in rows
        ]
