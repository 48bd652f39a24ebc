"""account events: an outbox published to `auth.account-events`, and each account's token generation

`outbox` holds the events written in the same transaction as the account change they describe (the
relay publishes them, in id order, and marks them). `users.token_generation` rises whenever every
access token issued so far to the account must be refused (disabled, role changed, new password);
access tokens carry it in their `gen` claim."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("users", sa.Column("token_generation", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("msg_key", mysql.VARBINARY(64), nullable=False),
        sa.Column("payload", mysql.MEDIUMBLOB, nullable=False),
        sa.Column("created_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("published_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Index("ix_outbox_published_at_id", "published_at", "id"),
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_column("users", "token_generation")
