"""Federation between regional registers: replicas, the publisher's cursor, what was sent to
each peer, link state, forwarded casework commands (register/store/federation_tables.py).

Revision ID: 0014
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "replica",
        sa.Column("person_id", sa.Integer, sa.ForeignKey("person.id"), primary_key=True),
        sa.Column("owner_region", sa.String(8), nullable=False, index=True),
        sa.Column("owner_event", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False))
    op.create_table(
        "federation_cursor",
        sa.Column("name", sa.String(20), primary_key=True),
        sa.Column("published_at", sa.DateTime),
        sa.Column("outbox_id", sa.Integer, nullable=False))
    op.create_table(
        "federation_sent",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("region", sa.String(8), nullable=False),
        sa.Column("outbox_id", sa.Integer, nullable=False),
        sa.Column("committed_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=False))
    op.create_index("ix_federation_sent_region_event", "federation_sent",
                    ["region", "outbox_id"])
    op.create_table(
        "federation_link",
        sa.Column("region", sa.String(8), primary_key=True),
        sa.Column("acked_event", sa.Integer, nullable=False),
        sa.Column("acked_at", sa.DateTime),
        sa.Column("received_event", sa.Integer, nullable=False),
        sa.Column("received_at", sa.DateTime))
    op.create_table(
        "federation_command",
        sa.Column("command_id", sa.String(200), primary_key=True),
        sa.Column("owner_region", sa.String(8), nullable=False, index=True),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("state", sa.String(12), nullable=False, index=True),
        sa.Column("rule", sa.String(20)),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime),
        sa.Column("answered_at", sa.DateTime))


def downgrade() -> None:
    for table in ("federation_command", "federation_link", "federation_sent",
                  "federation_cursor", "replica"):
        op.drop_table(table)
