"""Sales, items, tags, deleted ids, outbox, idempotency keys."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from supply_sales_writer.adapters.migrations.conventions import Hash, Moment, SaleId

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "sales",
        sa.Column("id", SaleId, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("sale_date", Moment, nullable=False),
        sa.Column("store_location", sa.String(32), nullable=False),
        sa.Column("purchase_method", sa.String(16), nullable=False),
        sa.Column("coupon_used", sa.Boolean, nullable=False),
        sa.Column("customer_gender", sa.String(16), nullable=False),
        sa.Column("customer_age", sa.SmallInteger, nullable=False),
        sa.Column("customer_email", sa.String(254), nullable=False),
        sa.Column("customer_satisfaction", sa.SmallInteger, nullable=False),
        sa.Column("content_hash", Hash, nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
        mysql_engine="InnoDB",
    )
    op.create_table(
        "sale_items",
        sa.Column("sale_id", SaleId, primary_key=True),
        sa.Column("position", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("price", sa.Numeric(12, 2), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(["sale_id"], ["sales.id"], ondelete="CASCADE", name="fk_sale_items_sale"),
        mysql_engine="InnoDB",
    )
    op.create_table(
        "sale_item_tags",
        sa.Column("sale_id", SaleId, primary_key=True),
        sa.Column("item_position", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("position", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("tag", sa.String(50), nullable=False),
        sa.ForeignKeyConstraint(
            ["sale_id", "item_position"],
            ["sale_items.sale_id", "sale_items.position"],
            ondelete="CASCADE",
            name="fk_sale_item_tags_item",
        ),
        mysql_engine="InnoDB",
    )
    op.create_table(
        "deleted_sales",
        sa.Column("sale_id", SaleId, primary_key=True),
        sa.Column("last_version", sa.Integer, nullable=False),
        sa.Column("deleted_at", Moment, nullable=False),
        mysql_engine="InnoDB",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("msg_key", mysql.VARBINARY(64), nullable=False),
        sa.Column("payload", mysql.MEDIUMBLOB, nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("published_at", Moment, nullable=True),
        mysql_engine="InnoDB",
    )
    op.create_index("ix_outbox_published_at_id", "outbox", ["published_at", "id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("idem_key", mysql.VARCHAR(255, charset="ascii", collation="ascii_bin"), primary_key=True),
        sa.Column("request_hash", Hash, nullable=False),
        sa.Column("sale_id", SaleId, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status_code", sa.SmallInteger, nullable=False),
        sa.Column("response", mysql.MEDIUMTEXT, nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        mysql_engine="InnoDB",
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    for table in ("idempotency_keys", "outbox", "deleted_sales", "sale_item_tags", "sale_items", "sales"):
        op.drop_table(table)
