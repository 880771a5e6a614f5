"""Server-side sessions for the staff pages (issue 20): the cookie holds a random id only.

Revision ID: 0011
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "page_session",
        sa.Column("id_digest", sa.String(64), primary_key=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False))
    op.create_index("ix_page_session_expires_at", "page_session", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_page_session_expires_at", table_name="page_session")
    op.drop_table("page_session")
