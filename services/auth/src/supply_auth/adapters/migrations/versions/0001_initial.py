"""users, refresh token families, refresh tokens, login attempts"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from supply_auth.adapters.migrations.conventions import TABLE_OPTIONS, TS

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.CHAR(26), primary_key=True),
        sa.Column("email", sa.String(254, collation="utf8mb4_bin"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("email", name="uq_users_email"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_users_role_id", "users", ["role", "id"])
    op.create_table(
        "refresh_families",
        sa.Column("id", sa.CHAR(26), primary_key=True),
        sa.Column("user_id", sa.CHAR(26), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("revoked_reason", sa.String(32), nullable=True),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_refresh_families_user_id", "refresh_families", ["user_id"])
    op.create_index("ix_refresh_families_expires_at", "refresh_families", ["expires_at"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.BINARY(32), primary_key=True),
        sa.Column("family_id", sa.CHAR(26), sa.ForeignKey("refresh_families.id", ondelete="CASCADE"), nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_table(
        "login_attempts",
        sa.Column("subject", sa.BINARY(32), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_started_at", TS, nullable=False),
        sa.Column("blocked_until", TS, nullable=True),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_login_attempts_window_started_at", "login_attempts", ["window_started_at"])


def downgrade() -> None:
    op.drop_table("login_attempts")
    op.drop_table("refresh_tokens")
    op.drop_table("refresh_families")
    op.drop_table("users")
