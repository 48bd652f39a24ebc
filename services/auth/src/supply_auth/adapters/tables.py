"""The `auth` database schema (SQLAlchemy Core). Alembic migrations are the source of truth; this
mirrors them for queries. Times are UTC, stored without a zone."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.mysql import DATETIME

TS = DATETIME(fsp=6)

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.CHAR(26), primary_key=True),
    sa.Column("email", sa.String(254, collation="utf8mb4_bin"), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("email_confirmed_at", TS, nullable=True),
    sa.Index("ix_users_role_id", "role", "id"),
)

password_links = sa.Table(
    "password_links",
    metadata,
    sa.Column("user_id", sa.CHAR(26), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("token_hash", sa.BINARY(32), nullable=False, unique=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
)

refresh_families = sa.Table(
    "refresh_families",
    metadata,
    sa.Column("id", sa.CHAR(26), primary_key=True),
    sa.Column("user_id", sa.CHAR(26), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False, index=True),
    sa.Column("revoked_at", TS, nullable=True),
    sa.Column("revoked_reason", sa.String(32), nullable=True),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("token_hash", sa.BINARY(32), primary_key=True),
    sa.Column(
        "family_id",
        sa.CHAR(26),
        sa.ForeignKey("refresh_families.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("issued_at", TS, nullable=False),
    sa.Column("used_at", TS, nullable=True),
)

login_attempts = sa.Table(
    "login_attempts",
    metadata,
    sa.Column("subject", sa.BINARY(32), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("window_started_at", TS, nullable=False, index=True),
    sa.Column("blocked_until", TS, nullable=True),
)
