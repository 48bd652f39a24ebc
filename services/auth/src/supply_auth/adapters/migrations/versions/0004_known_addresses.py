"""known addresses and last sign-in: the throttle's account-wide limit never refuses an address the
account signed in from before, and the staff page shows when each account last signed in

`known_addresses` holds, per user, the SHA-256 of each client address a sign-in succeeded from and
when it last did. `users.last_login_at` is the time of the last successful sign-in (NULL: none since
this migration)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from supply_auth.adapters.migrations.conventions import TABLE_OPTIONS, TS

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("users", sa.Column("last_login_at", TS, nullable=True))
    op.create_table(
        "known_addresses",
        sa.Column("user_id", sa.CHAR(26), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("address", sa.BINARY(32), primary_key=True),
        sa.Column("last_seen_at", TS, nullable=False),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("known_addresses")
    op.drop_column("users", "last_login_at")
