"""Holder timeline (RULES.md N, December 2026 edition): each entitlement's dated segments of
who holds the LA and NHS duties and by which rule, so "as of D" caseload queries read the same
answer the rules give; NHS ODS succession and dated sub-ICB parents (N6).

Revision ID: 0009
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "holder_segment",
        sa.Column("entitlement_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("local_authority", sa.String(length=9), nullable=True),
        sa.Column("icb", sa.String(length=5), nullable=True),
        sa.Column("original_body", sa.String(length=5), nullable=True),
        sa.Column("nhs_rule", sa.String(length=4), nullable=True),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["entitlement_id"], ["entitlement.id"],
                                name=op.f("fk_holder_segment_entitlement_id_entitlement")),
        sa.PrimaryKeyConstraint("entitlement_id", "seq", name=op.f("pk_holder_segment")),
    )
    op.create_index("ix_holder_segment_icb", "holder_segment", ["icb", "valid_from"])
    op.create_index("ix_holder_segment_la", "holder_segment", ["local_authority", "valid_from"])
    op.create_table(
        "org_succession",
        sa.Column("org_code", sa.String(length=10), nullable=False),
        sa.Column("target_code", sa.String(length=10), nullable=False),
        sa.Column("legal_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("org_code", "target_code", name=op.f("pk_org_succession")),
    )
    op.create_table(
        "sub_icb_parent",
        sa.Column("sub_icb_code", sa.String(length=10), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("icb_code", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("sub_icb_code", "valid_from", name=op.f("pk_sub_icb_parent")),
    )


def downgrade() -> None:
    op.drop_table("sub_icb_parent")
    op.drop_table("org_succession")
    op.drop_index("ix_holder_segment_la", table_name="holder_segment")
    op.drop_index("ix_holder_segment_icb", table_name="holder_segment")
    op.drop_table("holder_segment")
