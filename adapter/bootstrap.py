"""Wire the core to its store from Settings: the one place processes get a service from."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from adapter.config import Settings
from register.refdata.load import load_geography
from register.refdata.sql import SqlRefData
from register.service import RegisterService
from register.store import database
from register.store.casework_tables import CaseworkIndexRow
from register.store.casework_views import CaseworkViews
from register.store.orm import PersonRow
from register.store.refdata_tables import Organisation
from register.store.uow import SqlUnitOfWork


@dataclass
class Register:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    refdata: SqlRefData
    service: RegisterService

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions)


def prepare_embedded(settings: Settings, engine: Engine) -> None:
    """On a SQLite file, bring the schema to head and load the shipped geography if it is
    missing, so that `s117 serve` and `s117 demo` work with no set-up step. A file made
    before the casework tables existed gets its casework derived once (`s117 db reindex`)."""
    if not settings.embedded:
        return
    # Migrations are idempotent: an older embedded file is brought up to date on start.
    database.upgrade(settings.database_url)
    sessions = database.session_factory(engine)
    with sessions() as session:
        if session.query(Organisation).first() is None:
            load_geography(session)
            session.commit()
        unindexed = session.scalar(select(PersonRow.id).limit(1)) is not None and \
            session.scalar(select(CaseworkIndexRow.person_id).limit(1)) is None
    if unindexed:
        service = RegisterService(lambda: SqlUnitOfWork(sessions), SqlRefData(sessions),
                                  settings.policy)
        for nhs in CaseworkViews(sessions, settings.policy).people():
            service.refresh(nhs)


def build(settings: Settings, *, prepare: bool = True, pool_size: int = 10,
          max_overflow: int = 10) -> Register:
    engine = database.make_engine(settings.database_url, pool_size=pool_size,
                                  max_overflow=max_overflow)
    if prepare:
        prepare_embedded(settings, engine)
    sessions = database.session_factory(engine)
    refdata = SqlRefData(sessions)
    service = RegisterService(lambda: SqlUnitOfWork(sessions), refdata, settings.policy)
    return Register(settings, engine, sessions, refdata, service)
