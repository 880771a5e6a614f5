"""Persistence: SQLAlchemy 2.0 ORM, repositories, unit of work, outbox/inbox, Alembic."""
