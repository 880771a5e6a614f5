"""Alembic environment: runs migrations on the URL given by `s117 db upgrade`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from register.store import (  # noqa: F401  (register the tables)
    audit_tables,
    casework_tables,
    federation_tables,
    inbound_tables,
    orm,
    refdata_tables,
    session_tables,
    subscription_tables,
)
from register.store.base import Base

config = context.config


def run() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = engine_from_config(config.get_section(config.config_ini_section) or {},
                                    prefix="sqlalchemy.", poolclass=pool.NullPool)
        with engine.connect() as connection:
            _configure(connection)
    else:
        _configure(connectable)


def _configure(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


run()
