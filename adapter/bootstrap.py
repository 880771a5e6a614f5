"""The composition root: the one place a process turns Settings into the parts it runs on (the
register service and its store, the inbound bus and decoders, the worker, the outbound relay,
delivery and scheduler). Everything below adapter/ takes plain values; only this module
reads Settings to build them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from adapter.config import Settings
from adapter.intake import Intake
from adapter.intake.fhir import FhirIntake
from adapter.intake.hl7v2 import Hl7Intake
from queues.inbound.bus import AmqpBus, Inbound, InProcessBus
from queues.inbound.decoders import Decoders
from queues.inbound.processor import Processor
from queues.inbound.worker import Worker
from queues.outbound.channels import AmqpQueue, Channel, RestHook
from queues.outbound.delivery import Deliverer, RetryPolicy
from queues.outbound.dispatcher import Dispatcher, Outbound
from queues.outbound.endpoints import AllowList
from queues.outbound.notifications import Notifications
from queues.outbound.relay import Relay
from queues.outbound.scheduler import ReviewScheduler
from queues.outbound.stream import StreamPublisher
from register.events import EventType
from register.federation.ownership import Ownership
from register.redeterminations import ReindexReport
from register.refdata.load import load_geography
from register.refdata.regions import routing_table
from register.refdata.sql import SqlRefData
from register.service import RegisterService
from register.store import database
from register.store.audit import AuditLog
from register.store.casework_tables import CaseworkIndexRow
from register.store.casework_views import CaseworkViews
from register.store.orm import EntitlementRow, HolderSegmentRow, PersonRow
from register.store.refdata_tables import Organisation
from register.store.subscriptions import SubscriptionStore
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
    before the casework tables or the holder timeline (migration 0009) existed is derived
    again once (`s117 db reindex`)."""
    if not settings.embedded:
        return
    # Migrations are idempotent: an older embedded file is brought up to date on start.
    database.upgrade(settings.database_url)
    sessions = database.session_factory(engine)
    with sessions() as session:
        if session.query(Organisation).first() is None:
            load_geography(session)
            session.commit()
        unindexed = session.scalar(select(PersonRow.id).limit(1)) is not None and (
            session.scalar(select(CaseworkIndexRow.person_id).limit(1)) is None
            or (session.scalar(select(EntitlementRow.id).limit(1)) is not None
                and session.scalar(select(HolderSegmentRow.seq).limit(1)) is None))
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
    service = RegisterService(lambda: SqlUnitOfWork(sessions), refdata, settings.policy,
                              owners=owners(settings))
    return Register(settings, engine, sessions, refdata, service)


def owners(settings: Settings) -> Ownership | None:
    """With a region (federation on), the service can tell when a duty moves to another
    register (L3, N6) and hand the record over."""
    if not settings.region:
        return None
    return Ownership(settings.region, routing_table(settings.federation_routes))


# --- inbound ------------------------------------------------------------------------------


def decoders(settings: Settings) -> Decoders:
    return Decoders(Path(settings.trust_profiles) if settings.trust_profiles else None)


def inbound(settings: Settings, name: str, register: Register | None = None) -> Inbound:
    """The inbound bus for this process's mode: RabbitMQ `s117.inbound` with publisher
    confirms (networked), or the in-process bus applying each message before it returns
    (embedded; `register` is built if not given)."""
    found = decoders(settings)
    if settings.amqp_url:
        return Inbound(found, AmqpBus(settings.amqp_url, name))
    if register is None:
        register = build(settings)
    processor = Processor(register.service, register.sessions, found)
    return Inbound(found, InProcessBus(processor, settings.hold_seconds))


def intake(settings: Settings, name: str, register: Register | None = None) -> Intake:
    """The HL7 v2 and FHIR message intakes of one process, on one bus."""
    shared = inbound(settings, name, register)
    return Intake(Hl7Intake(shared, settings.mllp_max_bytes), FhirIntake(shared))


def audit_log(settings: Settings) -> AuditLog:
    """The audit trail of a process that builds no register (the MLLP listener)."""
    engine = database.make_engine(settings.database_url, pool_size=4, max_overflow=0)
    return AuditLog(database.session_factory(engine))


def worker(settings: Settings, *, index: int, count: int, prefetch: int, batch: int) -> Worker:
    """`s117 worker`: the schema is the migrate step's business, not each worker's."""
    register = build(settings, prepare=False)
    return Worker(settings.amqp_url or "", register.service, register.sessions,
                  decoders(settings), hold_seconds=settings.hold_seconds, index=index,
                  count=count, prefetch=prefetch, batch=batch)


# --- outbound -----------------------------------------------------------------------------

# Connections of one `s117 relay` process: one each for the relay, the delivery coordinator
# and the scheduler, and one to spare. Delivery's sender threads never touch the database
# (issue 22: with a connection per delivery thread, 40% of their time went on waiting for one).
RELAY_POOL = 4


def outbound(register: Register) -> Outbound:
    """The relay, delivery and review scheduler of `s117 relay`, `s117 scheduler` and the
    in-process bus. The relay publishes to RabbitMQ when `S117_AMQP_URL` is set; the `amqp`
    channel is offered only then."""
    settings, sessions = register.settings, register.sessions
    store = SubscriptionStore(sessions)
    base = settings.base_url.rstrip("/") + "/fhir"
    channels: dict[str, Channel] = {
        # As many kept-alive connections to one host as there are senders: an integration
        # engine taking several subscriptions is then never reconnected to mid-stream.
        "rest-hook": RestHook(settings.delivery_timeout_seconds,
                              AllowList.parse(settings.subscription_allowed_hosts),
                              per_host=settings.delivery_threads)}
    if settings.amqp_url:
        channels["amqp"] = AmqpQueue(settings.amqp_url)
    deliverer = Deliverer(
        store, Notifications(store, RegisterViews(sessions), register.refdata.name, base),
        channels, policy=RetryPolicy(
            give_up_after=timedelta(seconds=settings.delivery_retry_seconds)),
        threads=settings.delivery_threads,
        # Longer than one attempt may take, renewed after each: a worker that dies (even by
        # SIGKILL) holds its subscribers for at most this long before another takes over.
        lease=timedelta(seconds=2 * settings.delivery_timeout_seconds + 10))
    relay = Relay(sessions, settings.base_url,
                  StreamPublisher(settings.amqp_url) if settings.amqp_url else None,
                  on_batch=lambda _: deliverer.notify())
    scheduler = ReviewScheduler(sessions, notice_days=settings.review_notice_days,
                                on_raised=lambda _: relay.wake.set(), flags=True)
    return Outbound(relay, deliverer, scheduler)


def start_in_process_bus(register: Register) -> Dispatcher | None:
    """Embedded mode only: with a broker, `s117 relay` and `s117 scheduler` do this."""
    if register.settings.amqp_url:
        return None
    return Dispatcher(outbound(register)).start()
