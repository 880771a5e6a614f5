"""Inbound messages not yet applied: held (waiting for an earlier fact) and quarantined
(could not be applied: raw message, sender, reason, time), for `s117 quarantine`.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_message",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_key", sa.String(length=300), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("routing_key", sa.String(length=200), nullable=False),
        sa.Column("sender", sa.String(length=20), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("command_ids", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_key"),
    )
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_message_sender"), ["sender"])
        batch_op.create_index(batch_op.f("ix_inbound_message_state"), ["state"])
        batch_op.create_index(batch_op.f("ix_inbound_message_received_at"), ["received_at"])


def downgrade() -> None:
    op.drop_table("inbound_message")
