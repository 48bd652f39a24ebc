"""Idempotency keys belong to the user who sent them: the primary key becomes (user_id, idem_key).

A key was global: another user sending a key already used got 422 "reused", which told them the
key existed. Rows written before this revision keep an empty user_id; a create finds such a row
only if its request fingerprint (which covers the user id) is the caller's own, and the rows expire
with the keys' retention (24 h by default)."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column(
        "idempotency_keys",
        sa.Column(
            "user_id",
            mysql.VARCHAR(255, charset="utf8mb4", collation="utf8mb4_bin"),
            nullable=False,
            server_default="",
        ),
    )
    op.execute("ALTER TABLE idempotency_keys DROP PRIMARY KEY, ADD PRIMARY KEY (user_id, idem_key)")


def downgrade() -> None:
    # Keys of different users may now be equal: the remembered results (a cache of a day) go.
    op.execute("DELETE FROM idempotency_keys")
    op.execute("ALTER TABLE idempotency_keys DROP PRIMARY KEY, ADD PRIMARY KEY (idem_key)")
    op.drop_column("idempotency_keys", "user_id")
