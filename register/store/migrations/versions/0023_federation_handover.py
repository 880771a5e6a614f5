"""Ownership moves between regional registers (issue 23): the `handover` table, what a
replica once owned here (`replica.owned_until`), and where a passed-on command's answer goes
(`federation_command.reply_to`) (register/store/federation_tables.py).

Revision ID: 0023_handover
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_handover"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "handover",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.Integer, sa.ForeignKey("person.id"), nullable=False,
                  index=True),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("peer", sa.String(8), nullable=False),
        sa.Column("rule", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("event_number", sa.Integer),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime),
        sa.Column("answered_at", sa.DateTime))
    with op.batch_alter_table("replica") as batch:
        batch.add_column(sa.Column("owned_until", sa.Integer))
    with op.batch_alter_table("federation_command") as batch:
        batch.add_column(sa.Column("reply_to", sa.String(8)))


def downgrade() -> None:
    with op.batch_alter_table("federation_command") as batch:
        batch.drop_column("reply_to")
    with op.batch_alter_table("replica") as batch:
        batch.drop_column("owned_until")
    op.drop_table("handover")
