"""Index entitlement versions by time, for type-level history (`EpisodeOfCare/_history`,
`_since`): how a council or ICB catches up on every change since it last looked.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entitlement_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entitlement_version_recorded_at"),
                              ["recorded_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("entitlement_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entitlement_version_recorded_at"))
