"""Resource versions for FHIR vread and history: every stored version of a person's facts
and of each entitlement.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 23:33:30.708215
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "person_version",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "facts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_person_version_person_id_person")
        ),
        sa.PrimaryKeyConstraint("person_id", "version", name=op.f("pk_person_version")),
    )
    op.create_table(
        "entitlement_version",
        sa.Column("entitlement_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column(
            "snapshot",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("residence_la", sa.String(length=9), nullable=True),
        sa.Column("next_review_due", sa.Date(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["entitlement_id"],
            ["entitlement.id"],
            name=op.f("fk_entitlement_version_entitlement_id_entitlement"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_entitlement_version_person_id_person")
        ),
        sa.PrimaryKeyConstraint("entitlement_id", "version", name=op.f("pk_entitlement_version")),
    )
    with op.batch_alter_table("entitlement_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_entitlement_version_person_id"), ["person_id"], unique=False
        )



def downgrade() -> None:
    with op.batch_alter_table("entitlement_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entitlement_version_person_id"))

    op.drop_table("entitlement_version")
    op.drop_table("person_version")
