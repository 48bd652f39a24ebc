"""Each outbox row keeps the trace it was written in and, once published, where it landed.

`traceparent` (W3C trace context, NULL when tracing is off) is written with the change, so that the
relay sends it on as a Kafka header and the trace goes on from the request to the projector.
`published_partition` and `published_offset` are set with `published_at` by the relay; they are
fixed-size, so in the REDUNDANT row format (0002) the mark still rewrites the row in place. A
sale's journey finds its rows by the record key (`ix_outbox_msg_key`)."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column(
        "outbox", sa.Column("traceparent", mysql.VARCHAR(55, charset="ascii", collation="ascii_bin"), nullable=True)
    )
    op.add_column("outbox", sa.Column("published_partition", sa.Integer, nullable=True))
    op.add_column("outbox", sa.Column("published_offset", sa.BigInteger, nullable=True))
    op.create_index("ix_outbox_msg_key", "outbox", ["msg_key"])


def downgrade() -> None:
    op.drop_index("ix_outbox_msg_key", table_name="outbox")
    op.drop_column("outbox", "published_offset")
    op.drop_column("outbox", "published_partition")
    op.drop_column("outbox", "traceparent")
