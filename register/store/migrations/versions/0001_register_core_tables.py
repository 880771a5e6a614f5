"""register core tables

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gp_practice",
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("commissioner_code", sa.String(length=10), nullable=True),
        sa.Column("open_date", sa.Date(), nullable=True),
        sa.Column("close_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=1), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_gp_practice")),
    )
    op.create_table(
        "held_command",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("nhs_number", sa.String(length=10), nullable=False),
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_command")),
        sa.UniqueConstraint("command_id", name=op.f("uq_held_command_command_id")),
    )
    with op.batch_alter_table("held_command", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_held_command_nhs_number"), ["nhs_number"], unique=False
        )

    op.create_table(
        "inbox",
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("command_id", name=op.f("pk_inbox")),
    )
    op.create_table(
        "organisation",
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("gss_code", sa.String(length=9), nullable=True),
        sa.Column("ods_code", sa.String(length=10), nullable=True),
        sa.Column("parent_code", sa.String(length=10), nullable=True),
        sa.Column("icb_codes", sa.String(length=60), nullable=False),
        sa.Column("tier", sa.String(length=12), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_organisation")),
    )
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organisation_kind"), ["kind"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("entitlement_id", sa.String(length=36), nullable=False),
        sa.Column("local_authority", sa.String(length=9), nullable=True),
        sa.Column("icb", sa.String(length=5), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_entitlement_id"), ["entitlement_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_published_at"), ["published_at"], unique=False)

    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("nhs_number", sa.String(length=10), nullable=False),
        sa.Column(
            "facts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("residence_la", sa.String(length=9), nullable=True),
        sa.Column("merged_into", sa.String(length=10), nullable=True),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
        sa.UniqueConstraint("nhs_number", name=op.f("uq_person_nhs_number")),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_residence_la"), ["residence_la"], unique=False)

    op.create_table(
        "postcode",
        sa.Column("postcode", sa.String(length=8), nullable=False),
        sa.Column("la_gss", sa.String(length=9), nullable=False),
        sa.Column("sub_icb_code", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint("postcode", name=op.f("pk_postcode")),
    )
    op.create_table(
        "entitlement",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("planned_on", sa.Date(), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("responsible_la", sa.String(length=9), nullable=True),
        sa.Column("responsible_icb", sa.String(length=5), nullable=True),
        sa.Column("commissioning_body", sa.String(length=5), nullable=True),
        sa.Column("paying_body", sa.String(length=5), nullable=True),
        sa.Column("paying_icb", sa.String(length=5), nullable=True),
        sa.Column("residence_la", sa.String(length=9), nullable=True),
        sa.Column("next_review_due", sa.Date(), nullable=True),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column(
            "snapshot",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_entitlement_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entitlement")),
    )
    with op.batch_alter_table("entitlement", schema=None) as batch_op:
        batch_op.create_index(
            "ix_entitlement_icb_status", ["responsible_icb", "status"], unique=False
        )
        batch_op.create_index(
            "ix_entitlement_la_status", ["responsible_la", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_entitlement_needs_review"), ["needs_review"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_entitlement_next_review_due"), ["next_review_due"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_entitlement_person_id"), ["person_id"], unique=False)
        batch_op.create_index(
            "ix_entitlement_residence_status", ["residence_la", "status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_entitlement_status"), ["status"], unique=False)

    op.create_table(
        "determination",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entitlement_id", sa.String(length=36), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("rule_set", sa.String(length=40), nullable=False),
        sa.Column("local_authority", sa.String(length=9), nullable=True),
        sa.Column("icb", sa.String(length=5), nullable=True),
        sa.Column("original_body", sa.String(length=5), nullable=True),
        sa.Column("commissioning_body", sa.String(length=5), nullable=True),
        sa.Column("paying_body", sa.String(length=5), nullable=True),
        sa.Column("paying_icb", sa.String(length=5), nullable=True),
        sa.Column(
            "basis",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "needs_review",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["entitlement_id"],
            ["entitlement.id"],
            name=op.f("fk_determination_entitlement_id_entitlement"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_determination")),
    )
    with op.batch_alter_table("determination", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_determination_entitlement_id"), ["entitlement_id"], unique=False
        )

    op.create_table(
        "entitlement_status",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entitlement_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["entitlement_id"],
            ["entitlement.id"],
            name=op.f("fk_entitlement_status_entitlement_id_entitlement"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entitlement_status")),
    )
    with op.batch_alter_table("entitlement_status", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_entitlement_status_entitlement_id"), ["entitlement_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("entitlement_status", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entitlement_status_entitlement_id"))

    op.drop_table("entitlement_status")
    with op.batch_alter_table("determination", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_determination_entitlement_id"))

    op.drop_table("determination")
    with op.batch_alter_table("entitlement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entitlement_status"))
        batch_op.drop_index("ix_entitlement_residence_status")
        batch_op.drop_index(batch_op.f("ix_entitlement_person_id"))
        batch_op.drop_index(batch_op.f("ix_entitlement_next_review_due"))
        batch_op.drop_index(batch_op.f("ix_entitlement_needs_review"))
        batch_op.drop_index("ix_entitlement_la_status")
        batch_op.drop_index("ix_entitlement_icb_status")

    op.drop_table("entitlement")
    op.drop_table("postcode")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_residence_la"))

    op.drop_table("person")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_published_at"))
        batch_op.drop_index(batch_op.f("ix_outbox_entitlement_id"))

    op.drop_table("outbox")
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_kind"))

    op.drop_table("organisation")
    op.drop_table("inbox")
    with op.batch_alter_table("held_command", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_held_command_nhs_number"))

    op.drop_table("held_command")
    op.drop_table("gp_practice")
