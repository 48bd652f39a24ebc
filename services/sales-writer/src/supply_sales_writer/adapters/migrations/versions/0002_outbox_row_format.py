"""The outbox in InnoDB's REDUNDANT row format, so that marking a row published rewrites it in place.

In the default DYNAMIC format a NULL column takes no space in the record: setting `published_at`
grows every row the relay marks, and InnoDB moves it (delete and insert within the page, with the
undo to match). REDUNDANT reserves the space of a fixed-size column even while it is NULL, so the
mark is an in-place update (docs/performance.md gives what it saved). Payloads of this size stay
inside the record in either format."""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute("ALTER TABLE outbox ROW_FORMAT=REDUNDANT")


def downgrade() -> None:
    op.execute("ALTER TABLE outbox ROW_FORMAT=DYNAMIC")
