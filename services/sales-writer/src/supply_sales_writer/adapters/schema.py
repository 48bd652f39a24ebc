"""The `sales` database: the sale normalised, its outbox, idempotency keys and deleted ids.

Within what both MariaDB 10.11 and MySQL 8.4 accept. Ids are ObjectId hex (CHAR(24) ascii),
money DECIMAL(12,2), dates DATETIME(3) in UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
)
from sqlalchemy.dialects import mysql

metadata = MetaData()

SaleId = mysql.CHAR(24, charset="ascii", collation="ascii_bin")
Moment = mysql.DATETIME(fsp=3)
Hash = mysql.CHAR(64, charset="ascii", collation="ascii_bin")

sales = Table(
    "sales",
    metadata,
    Column("id", SaleId, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("sale_date", Moment, nullable=False),
    Column("store_location", String(32), nullable=False),
    Column("purchase_method", String(16), nullable=False),
    Column("coupon_used", Boolean, nullable=False),
    Column("customer_gender", String(16), nullable=False),
    Column("customer_age", SmallInteger, nullable=False),
    Column("customer_email", String(254), nullable=False),
    Column("customer_satisfaction", SmallInteger, nullable=False),
    Column("content_hash", Hash, nullable=False),
    Column("created_at", Moment, nullable=False),
    Column("updated_at", Moment, nullable=False),
    mysql_engine="InnoDB",
)

sale_items = Table(
    "sale_items",
    metadata,
    Column("sale_id", SaleId, primary_key=True),
    Column("position", SmallInteger, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("price", Numeric(12, 2), nullable=False),
    Column("quantity", Integer, nullable=False),
    ForeignKeyConstraint(["sale_id"], ["sales.id"], ondelete="CASCADE", name="fk_sale_items_sale"),
    mysql_engine="InnoDB",
)

sale_item_tags = Table(
    "sale_item_tags",
    metadata,
    Column("sale_id", SaleId, primary_key=True),
    Column("item_position", SmallInteger, primary_key=True, autoincrement=False),
    Column("position", SmallInteger, primary_key=True, autoincrement=False),
    Column("tag", String(50), nullable=False),
    ForeignKeyConstraint(
        ["sale_id", "item_position"],
        ["sale_items.sale_id", "sale_items.position"],
        ondelete="CASCADE",
        name="fk_sale_item_tags_item",
    ),
    mysql_engine="InnoDB",
)

deleted_sales = Table(
    "deleted_sales",
    metadata,
    Column("sale_id", SaleId, primary_key=True),
    Column("last_version", Integer, nullable=False),
    Column("deleted_at", Moment, nullable=False),
    mysql_engine="InnoDB",
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("topic", String(249), nullable=False),
    Column("msg_key", mysql.VARBINARY(64), nullable=False),
    Column("payload", mysql.MEDIUMBLOB, nullable=False),
    Column("created_at", Moment, nullable=False),
    Column("published_at", Moment, nullable=True),
    Column("traceparent", mysql.VARCHAR(55, charset="ascii", collation="ascii_bin"), nullable=True),
    Column("published_partition", Integer, nullable=True),
    Column("published_offset", BigInteger, nullable=True),
    Index("ix_outbox_published_at_id", "published_at", "id"),
    Index("ix_outbox_msg_key", "msg_key"),
    mysql_engine="InnoDB",
    # Marking a row published rewrites it in place only in this format (migration 0002).
    mysql_row_format="REDUNDANT",
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # Keys are the caller's own (migration 0003); rows from before it have an empty user_id.
    Column(
        "user_id",
        mysql.VARCHAR(255, charset="utf8mb4", collation="utf8mb4_bin"),
        primary_key=True,
        server_default="",
    ),
    Column("idem_key", mysql.VARCHAR(255, charset="ascii", collation="ascii_bin"), primary_key=True),
    Column("request_hash", Hash, nullable=False),
    Column("sale_id", SaleId, nullable=False),
    Column("version", Integer, nullable=False),
    Column("status_code", SmallInteger, nullable=False),
    Column("response", mysql.MEDIUMTEXT, nullable=False),
    Column("created_at", Moment, nullable=False),
    Index("ix_idempotency_keys_created_at", "created_at"),
    mysql_engine="InnoDB",
)

sale_history = Table(
    "sale_history",
    metadata,
    # One row per version a change made (never for a repair's re-emission), written in the change's
    # transaction; kept after the sale is deleted, so its history stays readable.
    Column("sale_id", SaleId, primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("event_type", mysql.VARCHAR(16, charset="ascii", collation="ascii_bin"), nullable=False),
    Column("user_id", mysql.VARCHAR(255, charset="utf8mb4", collation="utf8mb4_bin"), nullable=True),
    Column("role", mysql.VARCHAR(32, charset="ascii", collation="ascii_bin"), nullable=True),
    Column("occurred_at", Moment, nullable=False),
    Column("envelope", mysql.MEDIUMBLOB, nullable=False),
    mysql_engine="InnoDB",
)
