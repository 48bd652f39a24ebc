"""password links: a new account's password is set only through the link mailed to its address

`email_confirmations` becomes `password_links` (the pending links keep working: they now lead to
the page where the address's owner chooses the password). `users.password_hash` may be NULL: an
account nobody has set a password for. Accounts still unconfirmed lose the password given at
registration, so that whoever registered someone else's address can never sign in with it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.rename_table("email_confirmations", "password_links")
    op.alter_column("users", "password_hash", existing_type=sa.String(255), nullable=True)
    op.execute("UPDATE users SET password_hash = NULL WHERE email_confirmed_at IS NULL")


def downgrade() -> None:
    op.execute("UPDATE users SET password_hash = '!' WHERE password_hash IS NULL")  # matches no password
    op.alter_column("users", "password_hash", existing_type=sa.String(255), nullable=False)
    op.rename_table("password_links", "email_confirmations")
