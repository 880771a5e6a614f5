"""The search by name and date of birth on the staff pages (issue 21): the person's current
family name, folded for searching, and date of birth, indexed together. The name itself, with
its history, stays in the person's facts document; rows written before this revision are
filled in by `s117 db reindex` (or the next command for the person).

Revision ID: 0012
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("name_key", sa.String(100), nullable=True))
        batch.add_column(sa.Column("birth_date", sa.Date(), nullable=True))
    op.create_index("ix_person_name_key_birth_date", "person", ["name_key", "birth_date"])


def downgrade() -> None:
    op.drop_index("ix_person_name_key_birth_date", table_name="person")
    with op.batch_alter_table("person") as batch:
        batch.drop_column("birth_date")
        batch.drop_column("name_key")
