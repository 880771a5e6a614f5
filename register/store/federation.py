"""The federation's SQL: what the publisher reads next, what it sent, each link's state, and
forwarded commands with their answers (tables in federation_tables.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from register.store.dialect import utcnow
from register.store.federation_tables import (
    FederationCommandRow,
    FederationCursorRow,
    FederationLinkRow,
    FederationSentRow,
    ReplicaRow,
)
from register.store.orm import EntitlementRow, OutboxRow, PersonRow
from register.store.replicas import FORWARDED

CURSOR = "outbox"


def lock_cursor(session: Session) -> FederationCursorRow:
    """The publisher's place in the relayed outbox, locked for this transaction: a second
    publisher waits, so events leave in one order."""
    row = session.scalar(select(FederationCursorRow).where(FederationCursorRow.name == CURSOR)
                         .with_for_update())
    if row is None:
        row = FederationCursorRow(name=CURSOR, published_at=None, outbox_id=0)
        session.add(row)
        session.flush()
    return row


def _after(cursor: FederationCursorRow | None) -> ColumnElement[bool]:
    if cursor is None or cursor.published_at is None:
        return OutboxRow.published_at.is_not(None)
    return and_(OutboxRow.published_at.is_not(None), or_(
        OutboxRow.published_at > cursor.published_at,
        and_(OutboxRow.published_at == cursor.published_at, OutboxRow.id > cursor.outbox_id)))


def pending(session: Session) -> bool:
    """A plain read first, so an idle publisher takes no lock (a lock is a write, and a
    commit that waits for the disk)."""
    cursor = session.get(FederationCursorRow, CURSOR)
    return session.scalar(select(OutboxRow.id).where(_after(cursor)).limit(1)) is not None


def next_events(session: Session, cursor: FederationCursorRow, limit: int
                ) -> list[tuple[OutboxRow, str]]:
    """Relayed events after the cursor, in relay order (the relay publishes one batch at a
    time, in id order, so `(published_at, id)` never lets a late commit slip behind the
    cursor), of people this register owns, with the person's NHS number."""
    query = (select(OutboxRow, PersonRow.nhs_number, ReplicaRow.person_id)
             .join(EntitlementRow, EntitlementRow.id == OutboxRow.entitlement_id)
             .join(PersonRow, PersonRow.id == EntitlementRow.person_id)
             .outerjoin(ReplicaRow, ReplicaRow.person_id == PersonRow.id)
             .where(_after(cursor))
             .order_by(OutboxRow.published_at, OutboxRow.id).limit(limit))
    rows = session.execute(query).all()
    if rows:
        last = rows[-1][0]
        cursor.published_at, cursor.outbox_id = last.published_at, last.id
    return [(row, nhs) for row, nhs, replica in rows if replica is None]


def record_sent(session: Session, sent: list[tuple[str, int, datetime]]) -> None:
    stamp = utcnow()
    for region, event_number, committed_at in sent:
        session.add(FederationSentRow(region=region, outbox_id=event_number,
                                      committed_at=committed_at, sent_at=stamp))


def unsent_commands(session: Session, limit: int) -> list[FederationCommandRow]:
    return list(session.scalars(select(FederationCommandRow)
                                .where(FederationCommandRow.state == FORWARDED,
                                       FederationCommandRow.sent_at.is_(None))
                                .order_by(FederationCommandRow.created_at)
                                .limit(limit).with_for_update(skip_locked=True)))


def answer(session: Session, command_id: str, outcome: str, rule: str | None,
           detail: str) -> bool:
    done = session.execute(update(FederationCommandRow)
                           .where(FederationCommandRow.command_id == command_id)
                           .values(state=outcome, rule=rule, detail=detail,
                                   answered_at=utcnow()))
    return bool(done.rowcount)


def recent_commands(session: Session, limit: int) -> list[FederationCommandRow]:
    return list(session.scalars(select(FederationCommandRow)
                                .order_by(FederationCommandRow.created_at.desc())
                                .limit(limit)))


def _link(session: Session, region: str) -> FederationLinkRow:
    row = session.get(FederationLinkRow, region, with_for_update=True)
    if row is None:
        row = FederationLinkRow(region=region, acked_event=0, received_event=0)
        session.add(row)
    return row


def received(session: Session, region: str, event_number: int) -> None:
    row = _link(session, region)
    row.received_event = max(row.received_event or 0, event_number)
    row.received_at = utcnow()


def acked(session: Session, region: str, event_number: int) -> None:
    row = _link(session, region)
    row.acked_event = max(row.acked_event or 0, event_number)
    row.acked_at = utcnow()


@dataclass(frozen=True)
class LinkStatus:
    region: str
    sent: int  # events sent to the peer
    acked_event: int  # the last event the peer applied
    lag_events: int  # sent, not yet applied by the peer
    lag_seconds: float  # age of the oldest of those (0 when none)
    received_event: int  # the last event applied here from the peer
    received_at: datetime | None
    commands_waiting: int  # forwarded to the peer, no answer yet
    replicas: int  # people whose record the peer owns, held here


def link_status(session: Session, regions: list[str]) -> list[LinkStatus]:
    found = []
    stamp = utcnow()
    for region in regions:
        link = session.get(FederationLinkRow, region)
        acked_event = link.acked_event if link else 0
        sent = session.scalar(select(func.count()).where(FederationSentRow.region == region)
                              .select_from(FederationSentRow)) or 0
        lag, oldest = session.execute(
            select(func.count(), func.min(FederationSentRow.committed_at))
            .where(FederationSentRow.region == region,
                   FederationSentRow.outbox_id > acked_event)).one()
        waiting = session.scalar(select(func.count()).select_from(FederationCommandRow)
                                 .where(FederationCommandRow.owner_region == region,
                                        FederationCommandRow.state == FORWARDED)) or 0
        replicas = session.scalar(select(func.count()).select_from(ReplicaRow)
                                  .where(ReplicaRow.owner_region == region)) or 0
        found.append(LinkStatus(region, sent, acked_event, lag or 0,
                                (stamp - oldest).total_seconds() if oldest else 0.0,
                                link.received_event if link else 0,
                                link.received_at if link else None, waiting, replicas))
    return found
