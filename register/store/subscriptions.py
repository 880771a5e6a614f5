"""The subscription store: every read and write of the outbound tables, grouped by who calls
it (the FHIR API and CLI, the relay's fan-out, the delivery workers).

Delivery state is changed only by targeted UPDATEs that name the columns they change and the
state they expect (`WHERE lease_owner = ...`, `WHERE status = 'requested'`), so a subscriber
editing its Subscription and a worker delivering to it never overwrite each other, and a
worker whose lease ran out changes nothing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, insert, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from register.access import EVERYONE, OrgType, Viewer, hears
from register.errors import NotFound, StaleVersion
from register.events import EntitlementEvent
from register.store import codec
from register.store.orm import EntitlementVersionRow, OutboxRow
from register.store.subscription_tables import (
    DeliveryAttemptRow,
    SubscriptionEventRow,
    SubscriptionRow,
)
from register.subscriptions import Attempt, Criteria, RecordedEvent, Subscription, matches

LIVE = ("requested", "active")  # statuses that are delivered to
RECORDING = ("requested", "active", "error")  # statuses that events are recorded for


def _record(row: SubscriptionRow, events_since_start: int | None) -> Subscription:
    return Subscription(
        id=row.id, status=row.status, criteria=Criteria.from_json(row.topic, row.filters),
        channel=row.channel, endpoint=row.endpoint, headers=tuple(row.headers),
        content=row.content, heartbeat_seconds=row.heartbeat_seconds,
        timeout_seconds=row.timeout_seconds, max_count=row.max_count, end_at=row.end_at,
        resource=row.resource, version=row.version, updated_at=row.updated_at,
        events_since_start=events_since_start or 0, delivered_through=row.delivered_through,
        handshake_at=row.handshake_at, last_sent_at=row.last_sent_at,
        next_attempt_at=row.next_attempt_at, failing_since=row.failing_since,
        failures=row.failures, last_error=row.last_error, amqp_queue=row.amqp_queue,
        amqp_user=row.amqp_user, owner_org=row.owner_org, owner_type=row.owner_type)


def owner_of(org: str | None, kind: str | None) -> Viewer:
    """The organisation a Subscription carries events for; one made before access control
    (no owner) was made on an open register, by whoever ran it."""
    return Viewer(org, OrgType(kind)) if org and kind else EVERYONE


def _recorded(event: SubscriptionEventRow, outbox: OutboxRow) -> RecordedEvent:
    return RecordedEvent(event.event_number, codec.load_event(outbox.payload),
                         outbox.created_at, outbox.id)


def _latest_numbers(session: Session, ids: Iterable[str]) -> dict[str, int]:
    e = SubscriptionEventRow
    return dict(session.execute(select(e.subscription_id, func.max(e.event_number))
                                .where(e.subscription_id.in_(list(ids)))
                                .group_by(e.subscription_id)).all())


class SubscriptionStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    # -- the FHIR API and the CLI --------------------------------------------------------

    def create(self, subscription_id: str, values: dict[str, Any], now: datetime
               ) -> Subscription:
        with self.sessions.begin() as session:
            session.execute(insert(SubscriptionRow).values(
                id=subscription_id, version=1, created_at=now, updated_at=now,
                delivered_through=0, failures=0, **values))
        found = self.get(subscription_id)
        assert found is not None
        return found

    def replace(self, subscription_id: str, values: dict[str, Any], now: datetime, *,
                if_version: int | None, restart: bool) -> Subscription:
        """Write a new definition. `restart` (the endpoint changed, or the subscriber turned
        it back on): forget the failure streak and hand-shake again before delivering."""
        row = SubscriptionRow
        changes: dict[str, Any] = {**values, "version": row.version + 1, "updated_at": now}
        if restart:
            changes.update(handshake_at=None, failures=0, failing_since=None,
                           next_attempt_at=None, last_error=None)
        condition = row.id == subscription_id
        if if_version is not None:
            condition = and_(condition, row.version == if_version)
        with self.sessions.begin() as session:
            done = session.execute(update(row).where(condition).values(**changes)).rowcount
            if not done:
                current = session.scalar(select(row.version).where(row.id == subscription_id))
                if current is None:
                    raise NotFound(f"Subscription/{subscription_id} is not known",
                                   field="id")
                raise StaleVersion(f"the Subscription is at version {current}, not "
                                   f"{if_version}: read it again", field="if_version")
        found = self.get(subscription_id)
        assert found is not None
        return found

    def delete(self, subscription_id: str) -> Subscription | None:
        found = self.get(subscription_id)
        if found is None:
            return None
        with self.sessions.begin() as session:
            for table in (DeliveryAttemptRow, SubscriptionEventRow):
                session.execute(delete(table).where(table.subscription_id == subscription_id))
            session.execute(delete(SubscriptionRow).where(SubscriptionRow.id == subscription_id))
        return found

    def get(self, subscription_id: str) -> Subscription | None:
        found = self.all(ids=(subscription_id,))
        return found[0] if found else None

    def all(self, *, ids: Sequence[str] = (), statuses: Sequence[str] = ()
            ) -> list[Subscription]:
        query = select(SubscriptionRow).order_by(SubscriptionRow.created_at, SubscriptionRow.id)
        if ids:
            query = query.where(SubscriptionRow.id.in_(ids))
        if statuses:
            query = query.where(SubscriptionRow.status.in_(statuses))
        with self.sessions() as session:
            rows = session.scalars(query).all()
            latest = _latest_numbers(session, [r.id for r in rows]) if rows else {}
            return [_record(r, latest.get(r.id)) for r in rows]

    def events(self, subscription_id: str, *, since: int = 1, until: int | None = None,
               limit: int = 1000) -> list[RecordedEvent]:
        """Events numbered `since` to `until` (inclusive), oldest first, at most `limit`."""
        e = SubscriptionEventRow
        query = (select(e, OutboxRow).join(OutboxRow, OutboxRow.id == e.outbox_id)
                 .where(e.subscription_id == subscription_id, e.event_number >= since))
        if until is not None:
            query = query.where(e.event_number <= until)
        with self.sessions() as session:
            rows = session.execute(query.order_by(e.event_number).limit(limit)).all()
            return [_recorded(event, outbox) for event, outbox in rows]

    def attempts(self, subscription_id: str, limit: int = 20) -> list[Attempt]:
        """The latest delivery attempts, newest first."""
        a = DeliveryAttemptRow
        with self.sessions() as session:
            rows = session.scalars(select(a).where(a.subscription_id == subscription_id)
                                   .order_by(a.id.desc()).limit(limit)).all()
            return [Attempt(r.kind, r.first_event, r.last_event, r.attempted_at,
                            r.duration_ms, r.outcome, r.http_status, r.error) for r in rows]

    def entitlement_version(self, recorded: RecordedEvent) -> int | None:
        """The version of the entitlement the event's command produced; for an event that
        made no new version (a review falling due), the version current when it happened."""
        v = EntitlementVersionRow
        event = recorded.event
        with self.sessions() as session:
            version = session.scalar(select(v.version).where(
                v.entitlement_id == event.entitlement_id, v.command_id == event.command_id))
            if version is None:
                version = session.scalar(select(func.max(v.version)).where(
                    v.entitlement_id == event.entitlement_id,
                    v.recorded_at <= recorded.occurred_at))
            return version

    def attempt_count(self, subscription_id: str) -> int:
        a = DeliveryAttemptRow
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(a).where(
                a.subscription_id == subscription_id)) or 0

    # -- the relay: inside its batch transaction -----------------------------------------

    @staticmethod
    def fan_out(session: Session, rows: Sequence[OutboxRow], now: datetime,
                decoded: Sequence[EntitlementEvent] | None = None) -> int:
        """Record each outbox event, in outbox order, for every subscription it matches,
        numbered on from that subscription's last event. Runs in the relay's batch
        transaction, which only one relay holds at a time, so numbers never collide.

        A subscription hears the changes committed from its creation on: a relay that is
        behind (a server just started on a register with unrelayed changes) must not number
        older changes into a new subscription as if they had just happened. `decoded`: the
        rows' events, when the caller has already decoded them."""
        s = SubscriptionRow
        subscriptions = session.execute(select(
            s.id, s.topic, s.filters, s.created_at, s.end_at, s.owner_org, s.owner_type)
            .where(s.status.in_(RECORDING))).all()
        if not subscriptions or not rows:
            return 0
        wanted = [(sid, Criteria.from_json(topic, filters), start, end, owner_of(org, kind))
                  for sid, topic, filters, start, end, org, kind in subscriptions]
        matched: dict[str, list[int]] = {}
        events = decoded if decoded is not None else [codec.load_event(r.payload) for r in rows]
        for row, event in zip(rows, events, strict=True):
            for sid, criteria, start, end, owner in wanted:
                if (start <= row.created_at and (end is None or row.created_at < end)
                        and matches(criteria, event) and hears(owner, event)):
                    matched.setdefault(sid, []).append(row.id)
        if not matched:
            return 0
        latest = _latest_numbers(session, matched)
        values = [{"subscription_id": sid, "event_number": latest.get(sid, 0) + i,
                   "outbox_id": outbox_id, "recorded_at": now}
                  for sid, outbox_ids in matched.items()
                  for i, outbox_id in enumerate(outbox_ids, start=1)]
        session.execute(insert(SubscriptionEventRow.__table__), values)  # Core: no ORM per row
        return len(values)

    # -- delivery workers ----------------------------------------------------------------

    def due(self, now: datetime, limit: int = 200, *, owner: str | None = None) -> list[str]:
        """Subscriptions with something to send (a handshake, events the subscriber has not
        acknowledged, a heartbeat) that are not backing off and that no worker holds, or
        that `owner` holds itself."""
        s, e = SubscriptionRow, SubscriptionEventRow
        pending = exists().where(e.subscription_id == s.id,
                                 e.event_number > s.delivered_through)
        free = or_(s.lease_until.is_(None), s.lease_until < now)
        query = (select(s.id).where(
            s.status.in_(LIVE),
            or_(s.next_attempt_at.is_(None), s.next_attempt_at <= now),
            or_(free, s.lease_owner == owner) if owner else free,
            or_(s.end_at.is_(None), s.end_at > now),
            or_(s.status == "requested", pending, s.heartbeat_due_at <= now))
            .order_by(s.next_attempt_at.is_not(None), s.next_attempt_at).limit(limit))
        with self.sessions() as session:
            return list(session.scalars(query))

    def expire(self, now: datetime) -> int:
        """Subscriptions whose `end` has passed are turned off."""
        s = SubscriptionRow
        with self.sessions.begin() as session:
            return session.execute(update(s).where(s.status != "off", s.end_at.is_not(None),
                                                   s.end_at <= now)
                                   .values(status="off", updated_at=now)).rowcount

    def claim_many(self, ids: Sequence[str], owner: str, now: datetime,
                   lease: timedelta) -> set[str]:
        """`claim` for many subscriptions in one transaction (also renews the leases `owner`
        already holds); the ids it now holds."""
        if not ids:
            return set()
        s = SubscriptionRow
        with self.sessions.begin() as session:
            self._bookkeeping(session)  # a lost lease row only delays a takeover
            session.execute(update(s).where(
                s.id.in_(list(ids)),
                or_(s.lease_until.is_(None), s.lease_until < now, s.lease_owner == owner))
                .values(lease_owner=owner, lease_until=now + lease))
            return set(session.scalars(select(s.id).where(s.id.in_(list(ids)),
                                                          s.lease_owner == owner)))

    def release_many(self, ids: Iterable[str], owner: str) -> None:
        s = SubscriptionRow
        if ids := list(ids):
            with self.sessions.begin() as session:
                session.execute(update(s).where(s.id.in_(ids), s.lease_owner == owner)
                                .values(lease_owner=None, lease_until=None))

    def load_many(self, ids: Sequence[str], limit: int
                  ) -> dict[str, tuple[Subscription, list[RecordedEvent]]]:
        """`load` for many subscriptions in three queries, whatever their number: the
        subscriptions, the numbers of each one's first unacknowledged events (its
        `maxCount`, else `limit`: a window per subscription), and the outbox rows those
        name, each read and decoded once however many subscribers it goes to."""
        if not ids:
            return {}
        s, e = SubscriptionRow, SubscriptionEventRow
        latest = select(func.max(e.event_number)).where(
            e.subscription_id == s.id).scalar_subquery()
        with self.sessions() as session:
            subscriptions = {row.id: _record(row, number) for row, number in session.execute(
                select(s, latest).where(s.id.in_(list(ids)))).all()}
            active = [sid for sid, sub in subscriptions.items() if sub.status == "active"]
            found: dict[str, tuple[Subscription, list[RecordedEvent]]] = {
                sid: (sub, []) for sid, sub in subscriptions.items()}
            if not active:
                return found
            rank = func.row_number().over(partition_by=e.subscription_id,
                                          order_by=e.event_number).label("rank")
            window = (select(e.subscription_id, e.event_number, e.outbox_id, rank,
                             func.coalesce(s.max_count, limit).label("cap"))
                      .join(s, s.id == e.subscription_id)
                      .where(e.subscription_id.in_(active),
                             e.event_number > s.delivered_through).subquery())
            numbered = session.execute(
                select(window.c.subscription_id, window.c.event_number, window.c.outbox_id)
                .where(window.c.rank <= window.c.cap)
                .order_by(window.c.subscription_id, window.c.event_number)).all()
            outbox = {row.id: (codec.load_event(row.payload), row.created_at)
                      for row in session.execute(
                          select(OutboxRow.id, OutboxRow.payload, OutboxRow.created_at)
                          .where(OutboxRow.id.in_({o for _, _, o in numbered}))).all()}
        for sid, number, outbox_id in numbered:
            event, created_at = outbox[outbox_id]
            found[sid][1].append(RecordedEvent(number, event, created_at, outbox_id))
        return found

    @staticmethod
    def _bookkeeping(session: Session) -> None:
        """Delivery records need not wait for the disk on PostgreSQL: if the last few are
        lost in a database crash, those notifications are sent again (at least once),
        which subscribers already de-duplicate by event number."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL synchronous_commit TO OFF"))

    def record(self, owner: str, now: datetime, lease: timedelta, *,
               delivered: Sequence[tuple[Subscription, Attempt]] = (),
               failed: Sequence[tuple[Subscription, Attempt, timedelta, bool]] = ()
               ) -> set[str]:
        """Record many attempts in one transaction (the delivery worker settles every send
        that finished since its last round together): every attempt, and for each
        subscription still held by `owner` its progress (delivered: moved on, lease
        renewed; failed: the retry time, or status `error` with `give_up`). The ids whose
        lease `owner` no longer holds: nothing changed for those."""
        attempts = [(sub.id, attempt) for sub, attempt in delivered] + \
            [(sub.id, attempt) for sub, attempt, _, _ in failed]
        if not attempts:
            return set()
        lost: set[str] = set()
        with self.sessions.begin() as session:
            self._bookkeeping(session)
            # Core, not the ORM's bulk paths: one executemany each, no per-row ORM work.
            session.execute(insert(DeliveryAttemptRow.__table__), [
                dict(subscription_id=sid, kind=a.kind, first_event=a.first_event,
                     last_event=a.last_event, attempted_at=a.attempted_at,
                     duration_ms=a.duration_ms, outcome=a.outcome,
                     http_status=a.http_status, error=a.error) for sid, a in attempts])
            if delivered:
                lost |= self._moved_on(session, delivered, owner, now, lease)
            for subscription, attempt, retry_in, give_up in failed:
                if not self._backed_off(session, subscription, owner, attempt, now,
                                        retry_in, give_up):
                    lost.add(subscription.id)
        return lost

    @staticmethod
    def _moved_on(session: Session, delivered: Sequence[tuple[Subscription, Attempt]],
                  owner: str, now: datetime, lease: timedelta) -> set[str]:
        """Move each delivered subscription on in one executemany (one round trip on
        psycopg's pipeline, where a statement each was most of a settle's time); the ids
        whose lease `owner` no longer holds (nothing changed for those)."""
        t = SubscriptionRow.__table__
        statement = update(t).where(t.c.id == bindparam("b_id"), t.c.lease_owner == owner) \
            .values(lease_until=now + lease, last_sent_at=now, failures=0,
                    failing_since=None, next_attempt_at=None, last_error=None,
                    heartbeat_due_at=bindparam("b_heartbeat"),
                    delivered_through=func.coalesce(bindparam("b_through"),
                                                    t.c.delivered_through),
                    handshake_at=func.coalesce(bindparam("b_handshake"), t.c.handshake_at))
        ids = [sub.id for sub, _ in delivered]
        moved = session.connection().execute(statement, [
            {"b_id": sub.id, "b_through": attempt.last_event,
             "b_handshake": now if attempt.kind == "handshake" else None,
             "b_heartbeat": now + timedelta(seconds=sub.heartbeat_seconds)
             if sub.heartbeat_seconds else None} for sub, attempt in delivered]).rowcount
        held = set(ids) if moved == len(ids) else set(session.scalars(
            select(t.c.id).where(t.c.id.in_(ids), t.c.lease_owner == owner)))
        if handshakes := [sub.id for sub, attempt in delivered
                          if attempt.kind == "handshake" and sub.id in held]:
            session.execute(update(t).where(t.c.id.in_(handshakes), t.c.status == "requested")
                            .values(status="active"))
        return set(ids) - held

    @staticmethod
    def _backed_off(session: Session, subscription: Subscription, owner: str,
                    attempt: Attempt, now: datetime, retry_in: timedelta,
                    give_up: bool) -> bool:
        s = SubscriptionRow
        changes: dict[str, Any] = dict(
            failures=s.failures + 1, last_error=attempt.error,
            failing_since=func.coalesce(s.failing_since, now),
            next_attempt_at=None if give_up else now + retry_in)
        held = session.execute(update(s).where(s.id == subscription.id,
                                               s.lease_owner == owner)
                               .values(**changes)).rowcount == 1
        if held and give_up:
            session.execute(update(s).where(s.id == subscription.id,
                                            s.status.in_(LIVE))
                            .values(status="error", updated_at=now))
        return held
