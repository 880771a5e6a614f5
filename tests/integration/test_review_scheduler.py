"""The review scheduler on SQLite and PostgreSQL (rules R1, R2, R3): review-due within the
notice period and review-overdue the day after the due date, each once per entitlement and
due date however often it runs and however many schedulers run at once; a recorded review
moves the due date and the next one is announced in turn; the review-overdue topic hears
only review-overdue."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import Engine, select

from mappings.fhir import subscription as mapping
from queues.outbound.scheduler import ReviewScheduler
from register import commands as c
from register.nhs_number import synthetic
from register.service import RegisterService
from register.store import codec, database
from register.store.dialect import utcnow
from register.store.orm import EntitlementRow, OutboxRow
from tests.outbound_support import Outbound, admit, discharge, subscription

REVIEW_OVERDUE_TOPIC = "https://fhir.s117-register.uk/SubscriptionTopic/s117-review-overdue"
FIRST_DUE = date(2024, 6, 21)  # discharged 2024-05-10, first review within 42 days (R1)


def active(service: RegisterService, n: int = 0) -> str:
    nhs = synthetic(7_000 + n)
    service.handle(admit(nhs, "QGH", f"R{n}"))
    service.handle(discharge(nhs, f"R{n}"))
    return nhs


def review_events(engine: Engine) -> list[tuple[str, str, date]]:
    with database.session_factory(engine)() as session:
        rows = session.scalars(select(OutboxRow).where(OutboxRow.event.in_(
            ("review-due", "review-overdue"))).order_by(OutboxRow.id)).all()
        return [(r.event, r.entitlement_id, codec.load_event(r.payload).effective)
                for r in rows]


def scheduler(engine: Engine, today: date) -> ReviewScheduler:
    return ReviewScheduler(database.session_factory(engine), notice_days=14,
                           today=lambda: today)


def test_review_due_then_overdue_once_each(engine: Engine, service: RegisterService):
    active(service)
    with database.session_factory(engine)() as session:
        entitlement = session.scalars(select(EntitlementRow)).one()
    assert entitlement.next_review_due == FIRST_DUE
    assert scheduler(engine, date(2024, 6, 6)).run_once() == 0, "not yet within notice"
    assert scheduler(engine, date(2024, 6, 7)).run_once() == 1
    assert scheduler(engine, date(2024, 6, 20)).run_once() == 0, "raised once"
    assert scheduler(engine, FIRST_DUE).run_once() == 0, "due today is not overdue (R3)"
    assert scheduler(engine, date(2024, 6, 22)).run_once() == 1
    assert scheduler(engine, date(2024, 7, 30)).run_once() == 0
    assert review_events(engine) == [("review-due", entitlement.id, FIRST_DUE),
                                      ("review-overdue", entitlement.id, FIRST_DUE)]
    with database.session_factory(engine)() as session:
        overdue = session.scalars(select(OutboxRow).where(
            OutboxRow.event == "review-overdue")).one()
    event = codec.load_event(overdue.payload)
    assert (overdue.local_authority, overdue.icb) == ("E06000019", "QGH")
    assert "R3" in event.detail and event.command_id.startswith("scheduler:review-overdue:")


def test_a_recorded_review_moves_the_due_date_and_the_next_is_announced(
        engine: Engine, service: RegisterService):
    nhs = active(service)
    scheduler(engine, date(2024, 6, 22)).run_once()
    with database.session_factory(engine)() as session:
        entitlement_id = session.scalars(select(EntitlementRow.id)).one()
    service.handle(c.RecordReview(command_id="review-1", nhs_number=nhs,
                                  entitlement_id=entitlement_id, on=date(2024, 6, 25)))
    next_due = date(2025, 6, 25)  # R2: twelve months after the review
    assert scheduler(engine, date(2025, 6, 12)).run_once() == 1
    assert review_events(engine)[-1] == ("review-due", entitlement_id, next_due)


@pytest.mark.postgres
def test_several_schedulers_at_once_raise_each_event_once(postgresql_url: str):
    from tests.conftest import TODAY, empty_register, prepared_engine

    engine = prepared_engine(postgresql_url)
    empty_register(engine)
    from register.refdata.sql import SqlRefData
    from register.store.uow import SqlUnitOfWork

    sessions = database.session_factory(engine)
    service = RegisterService(lambda: SqlUnitOfWork(sessions), SqlRefData(sessions),
                              today=lambda: TODAY)
    for n in range(5):
        active(service, n)
    start = threading.Barrier(4)
    raised: list[int] = []

    def run() -> None:
        start.wait()
        raised.append(scheduler(engine, date(2024, 6, 22)).run_once())

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    events = review_events(engine)
    assert sum(raised) == len(events) == 10, "five due and five overdue, once each"
    assert len(set(events)) == 10


def test_the_review_overdue_topic_hears_only_review_overdue(
        engine: Engine, service: RegisterService):
    outbound = Outbound(engine)
    spec = mapping.from_fhir(subscription("http://127.0.0.1:9/x", ["responsible-icb=QGH"],
                                          topic=REVIEW_OVERDUE_TOPIC), utcnow())
    sub = outbound.manager.create(spec).subscription
    active(service)
    scheduler(engine, date(2024, 6, 22)).run_once()
    while outbound.relay.run_once():
        pass
    recorded = outbound.store.events(sub.id)
    assert [(e.number, e.event.event.value) for e in recorded] == [(1, "review-overdue")]
