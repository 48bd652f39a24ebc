"""email confirmation: users.email_confirmed_at and the pending confirmation links

Accounts that exist already are confirmed: they were made before addresses were checked, and
their owners have been signing in with them."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from supply_auth.adapters.migrations.conventions import TABLE_OPTIONS, TS

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("users", sa.Column("email_confirmed_at", TS, nullable=True))
    op.execute("UPDATE users SET email_confirmed_at = created_at")
    op.create_table(
        "email_confirmations",
        sa.Column("user_id", sa.CHAR(26), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("token_hash", sa.BINARY(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.UniqueConstraint("token_hash", name="uq_email_confirmations_token_hash"),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("email_confirmations")
    op.drop_column("users", "email_confirmed_at")
