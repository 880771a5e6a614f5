"""Wire the core to its store from Settings: the one place processes get a service from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from adapter.config import Settings
from queues.outbound.dispatcher import Dispatcher, Outbound
from queues.outbound.dispatcher import build as build_outbound
from register.events import EventType
from register.redeterminations import ReindexReport
from register.refdata.load import load_geography
from register.refdata.sql import SqlRefData
from register.service import RegisterService
from register.store import database
from register.store.casework_tables import CaseworkIndexRow
from register.store.casework_views import CaseworkViews
from register.store.orm import PersonRow
from register.store.refdata_tables import Organisation
from register.store.uow import SqlUnitOfWork
from register.store.views import RegisterViews


@dataclass
class Register:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    refdata: SqlRefData
    service: RegisterService

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions)

    def casework(self) -> CaseworkViews:
        return CaseworkViews(self.sessions, self.settings.policy)


def reindex(service: RegisterService, views: CaseworkViews,
            progress: Callable[[int, int], None] | None = None) -> ReindexReport:
    """Re-derive every person (`s117 db reindex`): how many, the changes announced, and
    each entitlement whose holders moved, with the rule why."""
    numbers = views.people()
    entitlements = RegisterViews(views.sessions)
    report = ReindexReport(people=len(numbers))
    for done, nhs in enumerate(numbers, start=1):
        events = service.refresh(nhs)
        report.events += len(events)
        for event in events:
            if event.event is EventType.RESPONSIBILITY_CHANGED and (
                    stored := entitlements.entitlement(event.entitlement_id)):
                report.add(nhs, event, stored.entitlement)
        if progress:
            progress(done, len(numbers))
    return report


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
        reindex(RegisterService(lambda: SqlUnitOfWork(sessions), SqlRefData(sessions),
                                settings.policy), CaseworkViews(sessions, settings.policy))


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


# Connections of one `s117 relay` process: its delivery lanes each hold one briefly, and a
# fixed pool avoids PostgreSQL starting a backend for every overflow connection.
RELAY_POOL = 24


def outbound(register: Register) -> Outbound:
    """The relay, delivery and review scheduler of `s117 relay`, `s117 scheduler` and the
    in-process bus."""
    return build_outbound(register.settings, register.sessions, register.refdata.name)


def start_in_process_bus(register: Register) -> Dispatcher | None:
    """Embedded mode only: with a broker, `s117 relay` and `s117 scheduler` do this."""
    if register.settings.amqp_url:
        return None
    return Dispatcher(outbound(register)).start()
