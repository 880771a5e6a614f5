"""Access control and audit: the trusts that sent each person's stays (what a trust may
see), the owner of each Subscription, Provenance of every applied command, and the
append-only audit trail (AuditEvent) with its entities.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("audit_event", "audit_entity")


def _trusts(facts: object) -> str:
    stays = facts.get("stays", []) if isinstance(facts, dict) else []
    codes = sorted({s["trust_ods"] for s in stays if s.get("trust_ods")})
    return f",{','.join(codes)}," if codes else ""


def upgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("trusts", sa.Text(), nullable=False, server_default=""))
    person = sa.table("person", sa.column("id", sa.Integer), sa.column("facts", sa.JSON),
                      sa.column("trusts", sa.Text))
    conn = op.get_bind()
    for person_id, facts in conn.execute(sa.select(person.c.id, person.c.facts)).all():
        codes = _trusts(facts)
        if codes:
            conn.execute(person.update().where(person.c.id == person_id).values(trusts=codes))

    with op.batch_alter_table("subscription") as batch:
        batch.add_column(sa.Column("owner_org", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("owner_type", sa.String(length=8), nullable=True))

    for table in ("person_version", "entitlement_version", "care_plan_version"):
        op.create_index(op.f(f"ix_{table}_command_id"), table, ["command_id"])

    op.create_table(
        "provenance",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("agent_org", sa.String(length=20), nullable=True),
        sa.Column("agent_type", sa.String(length=8), nullable=True),
        sa.Column("agent_who", sa.String(length=200), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provenance")),
        sa.UniqueConstraint("command_id", name=op.f("uq_provenance_command_id")),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=1), nullable=False),
        sa.Column("subtype", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=2), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("agent_org", sa.String(length=20), nullable=True),
        sa.Column("agent_type", sa.String(length=8), nullable=True),
        sa.Column("agent_who", sa.String(length=200), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    op.create_index(op.f("ix_audit_event_recorded_at"), "audit_event", ["recorded_at"])
    op.create_index(op.f("ix_audit_event_agent_org"), "audit_event", ["agent_org"])
    op.create_table(
        "audit_entity",
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(["audit_id"], ["audit_event.id"],
                                name=op.f("fk_audit_entity_audit_id_audit_event")),
        sa.PrimaryKeyConstraint("audit_id", "reference", name=op.f("pk_audit_entity")),
    )
    op.create_index("ix_audit_entity_reference", "audit_entity", ["reference"])
    _append_only(conn.dialect.name)


def _append_only(dialect: str) -> None:
    """Refuse UPDATE and DELETE on the audit trail, whoever asks."""
    if dialect == "postgresql":
        op.execute("""
            CREATE FUNCTION s117_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only: audit records are never changed',
                    TG_TABLE_NAME;
            END $$ LANGUAGE plpgsql""")
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON "
                       f"{table} FOR EACH ROW EXECUTE FUNCTION s117_append_only()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION s117_append_only()")
        return
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON "
                       f"{table} BEGIN SELECT RAISE(ABORT, '{table} is append-only: audit "
                       "records are never changed'); END")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION s117_append_only()")
    op.drop_index("ix_audit_entity_reference", table_name="audit_entity")
    op.drop_table("audit_entity")
    op.drop_index(op.f("ix_audit_event_agent_org"), table_name="audit_event")
    op.drop_index(op.f("ix_audit_event_recorded_at"), table_name="audit_event")
    op.drop_table("audit_event")
    op.drop_table("provenance")
    for table in ("person_version", "entitlement_version", "care_plan_version"):
        op.drop_index(op.f(f"ix_{table}_command_id"), table_name=table)
    with op.batch_alter_table("subscription") as batch:
        batch.drop_column("owner_type")
        batch.drop_column("owner_org")
    with op.batch_alter_table("person") as batch:
        batch.drop_column("trusts")
