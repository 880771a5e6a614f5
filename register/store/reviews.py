"""Review notices: the `review-due` and `review-overdue` events (rules R1-R3) the scheduler
raises, each exactly once per entitlement and due date however many schedulers run; and the
`flag-raised` of the Ombudsman flags the first-review window's closing raises (O2, O3), once
per entitlement, flag and day.

Each event is raised by inserting its `review_notice` row (`INSERT .. ON CONFLICT DO NOTHING
RETURNING`) and writing the outbox row only if that insert returned it, in one transaction.
Two schedulers racing for the same notice both try the insert; the second waits for the
first to commit, finds the key taken and writes nothing."""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from register.casework import OMBUDSMAN, TIME_DRIVEN, window_closed_event
from register.events import EventType
from register.rules import reviews
from register.store import outbox
from register.store.casework_tables import CaseworkIndexRow
from register.store.dialect import dialect_of, insert, utcnow
from register.store.orm import EntitlementRow
from register.store.subscription_tables import ReviewNoticeRow


class ReviewNotices:
    def __init__(self, sessions: sessionmaker[Session], *, notice_days: int) -> None:
        self.sessions = sessions
        self.notice_days = notice_days

    def raise_due(self, kind: EventType, today: date, limit: int) -> int:
        """Raise `kind` for up to `limit` active entitlements it is due for on `today` and
        not yet raised for their due date; the number raised (by this scheduler)."""
        e, n = EntitlementRow, ReviewNoticeRow
        when = e.next_review_due <= reviews.announce_until(today, self.notice_days) \
            if kind is EventType.REVIEW_DUE \
            else e.next_review_due < reviews.overdue_before(today)
        raised = 0
        with self.sessions.begin() as session:
            rows = session.execute(select(
                e.id, e.status, e.responsible_la, e.responsible_icb, e.paying_icb,
                e.residence_la, e.next_review_due).where(
                e.status == "active", e.next_review_due.is_not(None), when,
                ~exists().where(and_(n.entitlement_id == e.id, n.due == e.next_review_due,
                                     n.kind == kind.value)))
                .order_by(e.next_review_due, e.id).limit(limit)).all()
            for ent_id, status, la, icb, paying, residence, due in rows:
                if not self._claim(session, ent_id, due, kind):
                    continue  # another scheduler raised it
                outbox_id = outbox.add(session, reviews.review_event(
                    kind, ent_id, status, la, icb, paying, residence, due))
                session.execute(update(n).where(
                    n.entitlement_id == ent_id, n.due == due, n.kind == kind.value)
                    .values(outbox_id=outbox_id))
                raised += 1
        return raised

    def raise_flags(self, today: date, limit: int) -> int:
        """Raise `flag-raised` for up to `limit` O2/O3 flags (casework.TIME_DRIVEN) in force
        on `today` and not yet raised: the notice's kind is `flag:O2`/`flag:O3` and its due
        date the day the flag came into force."""
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
                    .order_by(a.since, e.id).limit(limit)).all()
                for ent_id, status, la, icb, paying, residence, since in rows:
                    if not self._claim(session, ent_id, since, kind):
                        continue  # another scheduler raised it
                    outbox_id = outbox.add(session, window_closed_event(
                        code, ent_id, status, la, icb, paying, residence, since))
                    session.execute(update(n).where(
                        n.entitlement_id == ent_id, n.due == since, n.kind == kind)
                        .values(outbox_id=outbox_id))
                    raised += 1
        return raised

    @staticmethod
    def _claim(session: Session, entitlement_id: str, due: date,
               kind: EventType | str) -> bool:
        statement = insert(dialect_of(session), ReviewNoticeRow).values(
            entitlement_id=entitlement_id, due=due, raised_at=utcnow(),
            kind=kind.value if isinstance(kind, EventType) else kind)
        return session.execute(statement.on_conflict_do_nothing().returning(
            ReviewNoticeRow.kind)).first() is not None
