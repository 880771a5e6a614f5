"""Casework read model: aftercare plans as shown (with every version), and an index of each
person's tasks, alerts and plans (FHIR CarePlan, Task, Flag; the panel agenda; overdue
reviews).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "care_plan",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("entitlement_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("responsible_la", sa.String(length=9), nullable=True),
        sa.Column("responsible_icb", sa.String(length=5), nullable=True),
        sa.Column(
            "snapshot",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_care_plan_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_plan")),
    )
    with op.batch_alter_table("care_plan", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_care_plan_entitlement_id"), ["entitlement_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_care_plan_person_id"), ["person_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_care_plan_responsible_icb"), ["responsible_icb"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_care_plan_responsible_la"), ["responsible_la"], unique=False
        )

    op.create_table(
        "casework_index",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("entitlement_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("business_status", sa.String(length=40), nullable=True),
        sa.Column("owner", sa.String(length=9), nullable=True),
        sa.Column("icb", sa.String(length=5), nullable=True),
        sa.Column("authored_on", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("plan_id", sa.String(length=64), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_casework_index_person_id_person")
        ),
        sa.PrimaryKeyConstraint("person_id", "key", name=op.f("pk_casework_index")),
    )
    with op.batch_alter_table("casework_index", schema=None) as batch_op:
        batch_op.create_index(
            "ix_casework_index_kind_code_icb", ["kind", "code", "icb"], unique=False
        )
        batch_op.create_index(
            "ix_casework_index_kind_code_owner", ["kind", "code", "owner"], unique=False
        )

    op.create_table(
        "care_plan_version",
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column(
            "snapshot",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["care_plan.id"], name=op.f("fk_care_plan_version_plan_id_care_plan")
        ),
        sa.PrimaryKeyConstraint("plan_id", "version", name=op.f("pk_care_plan_version")),
    )


def downgrade() -> None:
    op.drop_table("care_plan_version")
    with op.batch_alter_table("casework_index", schema=None) as batch_op:
        batch_op.drop_index("ix_casework_index_kind_code_owner")
        batch_op.drop_index("ix_casework_index_kind_code_icb")

    op.drop_table("casework_index")
    with op.batch_alter_table("care_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_plan_responsible_la"))
        batch_op.drop_index(batch_op.f("ix_care_plan_responsible_icb"))
        batch_op.drop_index(batch_op.f("ix_care_plan_person_id"))
        batch_op.drop_index(batch_op.f("ix_care_plan_entitlement_id"))

    op.drop_table("care_plan")
