"""Caseload indexes: a council's or ICB's caseload page and its total read in index order and
index-only, carrying the column its visibility filter also reads (found by the FHIR benchmark
at 900,000 entitlements, where a caseload search visited every row of the body's caseload in
the heap).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_entitlement_la_caseload": ("responsible_la", ["residence_la", "status"]),
    "ix_entitlement_icb_caseload": ("responsible_icb", ["paying_icb", "status"]),
    "ix_entitlement_residence_caseload": ("residence_la", ["responsible_la", "status"]),
}


def upgrade() -> None:
    for name, (column, carried) in INDEXES.items():
        op.create_index(name, "entitlement", [column, "planned_on", "id"],
                        postgresql_include=carried)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="entitlement")
