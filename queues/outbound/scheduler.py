"""The review scheduler (`s117 scheduler`; in embedded mode, part of the dispatcher).

Once a day is enough, but it runs every minute so a restart never skips a day: for every
active entitlement whose next review falls due within `S117_REVIEW_NOTICE_DAYS` it raises
`review-due`, and once the due date has passed without a review (rule R3) `review-overdue`,
each exactly once per entitlement and due date. A recorded review moves the due date, so the
next one is announced in its turn.

With `flags`, it also announces the Ombudsman flags that come into force by the passing of
time alone (RULES.md O2 and O3, the day after the first-review window closes), once per
entitlement, flag and day, as `flag-raised`: a change of facts announces the others (and
every clearing) as it happens (register.changes).

Safe on several machines at once: each event is raised by inserting its `review_notice` row
(`INSERT .. ON CONFLICT DO NOTHING RETURNING`) and writing the outbox row only if that insert
returned it, in one transaction. Two schedulers racing for the same notice both try the
insert; the second waits for the first to commit, finds the key taken and writes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from queues.connection import backoff
from queues.outbound.processes import short, utcnow
from register.casework import OMBUDSMAN, TIME_DRIVEN
from register.events import EntitlementEvent, EventType
from register.store import codec
from register.store.casework_tables import CaseworkIndexRow
from register.store.orm import EntitlementRow, OutboxRow
from register.store.subscription_tables import ReviewNoticeRow

log = logging.getLogger("s117.scheduler")
LONDON = ZoneInfo("Europe/London")
BATCH = 1000


def london_today() -> date:
    """Review dates are UK dates."""
    return datetime.now(LONDON).date()


class ReviewScheduler:
    def __init__(self, sessions: sessionmaker[Session], *, notice_days: int = 14,
                 today: Callable[[], date] = london_today,
                 on_raised: Callable[[int], None] | None = None, flags: bool = False) -> None:
        self.sessions = sessions
        self.notice = timedelta(days=notice_days)
        self.today = today
        self.on_raised = on_raised
        self.flags = flags

    def _claim(self, session: Session, entitlement_id: str, due: date, kind: str) -> bool:
        dialect = session.get_bind().dialect.name
        statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
            ReviewNoticeRow).values(entitlement_id=entitlement_id, due=due, kind=kind,
                                    raised_at=utcnow())
        return session.execute(statement.on_conflict_do_nothing().returning(
            ReviewNoticeRow.kind)).first() is not None

    def _raise(self, kind: EventType, today: date) -> int:
        e, n = EntitlementRow, ReviewNoticeRow
        # Overdue is rule R3 (register.rules.reviews.overdue): the day after the due date.
        when = e.next_review_due <= today + self.notice if kind is EventType.REVIEW_DUE \
            else e.next_review_due < today
        raised = 0
        with self.sessions.begin() as session:
            rows = session.execute(select(
                e.id, e.status, e.responsible_la, e.responsible_icb, e.paying_icb,
                e.residence_la, e.next_review_due).where(
                e.status == "active", e.next_review_due.is_not(None), when,
                ~exists().where(and_(n.entitlement_id == e.id, n.due == e.next_review_due,
                                     n.kind == kind.value)))
                .order_by(e.next_review_due, e.id).limit(BATCH)).all()
            for ent_id, status, la, icb, paying, residence, due in rows:
                if not self._claim(session, ent_id, due, kind.value):
                    continue  # another scheduler raised it
                detail = f"review overdue: it was due by {due} (rule R3)" \
                    if kind is EventType.REVIEW_OVERDUE else f"review due by {due} (R1, R2)"
                event = EntitlementEvent(kind, ent_id, status, la, icb, residence, due, detail,
                                         f"scheduler:{kind.value}:{ent_id}:{due}",
                                         paying_icb=paying)
                outbox_id = session.execute(insert(OutboxRow).values(
                    event=kind.value, entitlement_id=ent_id, local_authority=la, icb=icb,
                    payload=codec.dump(event), created_at=utcnow()).returning(OutboxRow.id)
                                            ).scalar_one()
                session.execute(ReviewNoticeRow.__table__.update().where(
                    n.entitlement_id == ent_id, n.due == due, n.kind == kind.value)
                    .values(outbox_id=outbox_id))
                raised += 1
        return raised

    def _raise_flags(self, today: date) -> int:
        """O2 and O3 in force today and not yet announced (notice kind `flag:O2`, due = the
        day the flag came into force)."""
        a, e, n = CaseworkIndexRow, EntitlementRow, ReviewNoticeRow
        raised = 0
        with self.sessions.begin() as session:
            for code in TIME_DRIVEN:
                kind = f"flag:{OMBUDSMAN[code]}"
                rows = session.execute(select(
                    e.id, e.status, e.responsible_la, e.responsible_icb, e.paying_icb,
                    e.residence_la, a.since).join(e, e.id == a.entitlement_id).where(
                    a.kind == "alert", a.code == code.value, a.since <= today,
                    or_(a.until.is_(None), a.until > today),
                    ~exists().where(and_(n.entitlement_id == a.entitlement_id,
                                         n.due == a.since, n.kind == kind)))
                    .order_by(a.since, e.id).limit(BATCH)).all()
                for ent_id, status, la, icb, paying, residence, since in rows:
                    if not self._claim(session, ent_id, since, kind):
                        continue
                    event = EntitlementEvent(
                        EventType.FLAG_RAISED, ent_id, status, la, icb, residence, since,
                        f"{OMBUDSMAN[code]} {code.value}: raised on {since}, the first-review "
                        "window having closed without it being put right",
                        f"scheduler:{kind}:{ent_id}:{since}", paying_icb=paying, flag=code.value)
                    outbox_id = session.execute(insert(OutboxRow).values(
                        event=event.event.value, entitlement_id=ent_id, local_authority=la,
                        icb=icb, payload=codec.dump(event), created_at=utcnow())
                        .returning(OutboxRow.id)).scalar_one()
                    session.execute(n.__table__.update().where(
                        n.entitlement_id == ent_id, n.due == since, n.kind == kind)
                        .values(outbox_id=outbox_id))
                    raised += 1
        return raised

    def run_once(self) -> int:
        """Raise what is due today; the number of events raised."""
        today = self.today()
        raised = 0
        for kind in (EventType.REVIEW_DUE, EventType.REVIEW_OVERDUE):
            while True:
                count = self._raise(kind, today)
                raised += count
                if count < BATCH:
                    break
        while self.flags:
            count = self._raise_flags(today)
            raised += count
            if count < BATCH:
                break
        if raised and self.on_raised is not None:
            self.on_raised(raised)
        return raised

    def run(self, stop: threading.Event, interval: float = 60.0) -> None:
        failures = 0
        while not stop.is_set():
            try:
                raised = self.run_once()
                failures = 0
                if raised:
                    log.info("raised %d review events", raised)
            except DBAPIError as error:
                delay = backoff(failures)
                failures += 1
                log.warning("scheduler: database unavailable (%s); retrying in %.1f s",
                            short(error), delay)
                stop.wait(delay)
                continue
            stop.wait(interval)
