"""The store's conventions on both databases, each written once: timestamps are naive UTC
(SQLite keeps no zone; readers add it back), and `INSERT .. ON CONFLICT` comes from the
dialect's own insert (SQLAlchemy has no portable one)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def utcnow() -> datetime:
    """Now, as the store keeps time: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def insert(dialect: str, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say ON CONFLICT DO NOTHING / DO UPDATE on `dialect`."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name
