"""The casework tables as migration 0005 makes them are the tables the code declares, on
SQLite and PostgreSQL; and `s117 db reindex` (RegisterService.refresh) rebuilds the casework
read model from the facts."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from register import commands as c
from register.nhs_number import synthetic
from register.store import casework_tables
from register.store.base import Base
from register.store.casework_tables import CaseworkIndexRow
from tests.integration.test_service_store import admit, discharge

CASEWORK = {m.__tablename__ for m in (casework_tables.CarePlanRow,
                                       casework_tables.CarePlanVersionRow,
                                       casework_tables.CaseworkIndexRow)}


def test_migration_0005_makes_the_declared_tables(engine: Engine):
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)

    def table_of(diff) -> str | None:  # type: ignore[no-untyped-def]
        for part in (diff if isinstance(diff, list) else [diff]):
            for item in part[1:]:
                name = getattr(item, "name", None) if not hasattr(item, "table") else \
                    item.table.name
                if name:
                    return name
        return None

    mine = [d for d in differences if table_of(d) in CASEWORK]
    assert mine == []


def count(engine: Engine, kind: str | None = None) -> int:
    with Session(engine) as session:
        query = select(func.count()).select_from(CaseworkIndexRow)
        if kind:
            query = query.where(CaseworkIndexRow.kind == kind)
        return session.scalar(query) or 0


def test_refresh_rebuilds_the_casework_of_a_person(engine: Engine, service):  # type: ignore[no-untyped-def]
    nhs = synthetic(90)
    service.handle(admit(nhs, ref="R90"))
    service.handle(discharge(nhs, ref="R90"))
    service.handle(c.RecordReview(command_id="rv", nhs_number=nhs, entitlement_id=None,
                                  on=service._today()))
    tasks, alerts = count(engine, "task"), count(engine, "alert")
    assert tasks and alerts
    with Session(engine) as session:
        session.execute(delete(CaseworkIndexRow))
        session.commit()
    assert service.refresh(nhs) == []  # nothing about the entitlement changed
    assert (count(engine, "task"), count(engine, "alert")) == (tasks, alerts)


def test_an_older_embedded_register_gets_its_casework_on_start(tmp_path):  # type: ignore[no-untyped-def]
    """A SQLite file made before migration 0005 (here: its casework emptied) is indexed when
    `s117 serve` or the demo prepares it, so flags and the agenda are there at once."""
    from adapter import config
    from adapter.bootstrap import build, prepare_embedded

    settings = config.from_env({"S117_DATABASE_URL": f"sqlite:///{tmp_path / 'old.db'}"})
    register = build(settings)
    register.service.handle(admit(synthetic(91), ref="O91"))
    register.service.handle(discharge(synthetic(91), ref="O91"))
    with Session(register.engine) as session:
        session.execute(delete(CaseworkIndexRow))
        session.commit()
    prepare_embedded(settings, register.engine)
    assert count(register.engine, "alert") > 0 and count(register.engine, "task") > 0
