"""A sale's history: one row per version (who made it, when, the change's envelope), written in the
same transaction as the change."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from supply_sales_writer.adapters.migrations.conventions import Moment, SaleId

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "sale_history",
        sa.Column("sale_id", SaleId, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("event_type", mysql.VARCHAR(16, charset="ascii", collation="ascii_bin"), nullable=False),
        sa.Column("user_id", mysql.VARCHAR(255, charset="utf8mb4", collation="utf8mb4_bin"), nullable=True),
        sa.Column("role", mysql.VARCHAR(32, charset="ascii", collation="ascii_bin"), nullable=True),
        sa.Column("occurred_at", Moment, nullable=False),
        sa.Column("envelope", mysql.MEDIUMBLOB, nullable=False),
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("sale_history")
