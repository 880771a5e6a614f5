"""The federation's SQL: what the publisher reads next, what it sent, each link's state, and
forwarded commands with their answers (tables in federation_tables.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from register.store.dialect import utcnow
from register.store.federation_tables import (
    FederationCommandRow,
    FederationCursorRow,
    FederationLinkRow,
    FederationSentRow,
    HandoverRow,
    ReplicaRow,
)
from register.store.orm import EntitlementRow, OutboxRow, PersonRow
from register.store.replicas import ACCEPTED, FORWARDED, OFFERED

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


@dataclass(frozen=True)
class Relayed:
    row: OutboxRow
    nhs_number: str
    person_id: int
    replica: bool  # this register holds the person as a replica now
    # If it owned them once and handed them over: its own events end at this outbox id (0:
    # at its owner-changed event, not yet sent); None: never owned here.
    owned_until: int | None

    @property
    def own(self) -> bool:
        """An event this register made as the owner (not a replica update it applied)."""
        return not self.replica or (self.owned_until is not None and (
            self.owned_until == 0 or self.row.id <= self.owned_until))


def next_events(session: Session, cursor: FederationCursorRow, limit: int) -> list[Relayed]:
    """Relayed events after the cursor, in relay order (the relay publishes one batch at a
    time, in id order, so `(published_at, id)` never lets a late commit slip behind the
    cursor), with the person's NHS number and whether this register holds them as a replica
    (and until which event it owned them, if it handed them over)."""
    query = (select(OutboxRow, PersonRow.nhs_number, PersonRow.id, ReplicaRow.person_id,
                    ReplicaRow.owned_until)
             .join(EntitlementRow, EntitlementRow.id == OutboxRow.entitlement_id)
             .join(PersonRow, PersonRow.id == EntitlementRow.person_id)
             .outerjoin(ReplicaRow, ReplicaRow.person_id == PersonRow.id)
             .where(_after(cursor))
             .order_by(OutboxRow.published_at, OutboxRow.id).limit(limit))
    rows = session.execute(query).all()
    if rows:
        last = rows[-1][0]
        cursor.published_at, cursor.outbox_id = last.published_at, last.id
    return [Relayed(row, nhs, person_id, replica is not None, owned_until)
            for row, nhs, person_id, replica, owned_until in rows]


def offer(session: Session, person_id: int, to: str, event_number: int) -> str:
    """The publisher sends the handover of a person to `to` with this owner-changed event:
    this register's own events of the person end there. Returns the rule that moved it."""
    session.execute(update(ReplicaRow).where(ReplicaRow.person_id == person_id)
                    .values(owned_until=event_number))
    row = session.scalar(select(HandoverRow).where(
        HandoverRow.person_id == person_id, HandoverRow.direction == "out",
        HandoverRow.peer == to, HandoverRow.state == OFFERED,
        HandoverRow.event_number.is_(None)).order_by(HandoverRow.id.desc()).limit(1))
    if row is None:
        return "-"
    row.event_number, row.sent_at = event_number, utcnow()
    return row.rule


def former_owners(session: Session, person_ids: list[int]) -> dict[int, set[str]]:
    """The registers that handed these people over to this one: they keep a replica."""
    found: dict[int, set[str]] = {}
    if person_ids:
        for person_id, peer in session.execute(
                select(HandoverRow.person_id, HandoverRow.peer)
                .where(HandoverRow.person_id.in_(set(person_ids)),
                       HandoverRow.direction == "in")):
            found.setdefault(person_id, set()).add(peer)
    return found


def handing_over(session: Session) -> set[str]:
    """NHS numbers of people this register is handing over, the offer not yet sent: casework
    for them waits, so the new owner hears the offer before it."""
    return set(session.scalars(select(PersonRow.nhs_number)
                               .join(ReplicaRow, ReplicaRow.person_id == PersonRow.id)
                               .where(ReplicaRow.owned_until == 0)))


def handover_answered(session: Session, peer: str, event_number: int, outcome: str,
                      reason: str) -> bool:
    """The new owner's answer to an offer. Refused: this register owns the person again
    (nothing was applied there), and the reason is kept."""
    row = session.scalar(select(HandoverRow).where(
        HandoverRow.direction == "out", HandoverRow.peer == peer,
        HandoverRow.event_number == event_number).with_for_update())
    if row is None:
        return False
    row.state, row.answered_at = (ACCEPTED if outcome == ACCEPTED else "refused"), utcnow()
    if outcome != ACCEPTED:
        row.detail = f"{row.detail}; refused by {peer}: {reason}"[:2000]
        session.execute(delete(ReplicaRow).where(ReplicaRow.person_id == row.person_id,
                                                 ReplicaRow.owner_region == peer))
    return True


def handovers(session: Session, limit: int) -> list[HandoverRow]:
    return list(session.scalars(select(HandoverRow).order_by(HandoverRow.id.desc())
                                .limit(limit)))


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
    """Keep the owner's answer. `forwarded` (passed on to a new owner) never overwrites the
    final answer, which may come first, by another link."""
    where = [FederationCommandRow.command_id == command_id]
    if outcome == FORWARDED:
        where.append(FederationCommandRow.state == FORWARDED)
    done = session.execute(update(FederationCommandRow).where(*where)
                           .values(state=outcome, rule=rule, detail=detail,
                                   answered_at=utcnow()))
    return bool(done.rowcount) or session.get(FederationCommandRow, command_id) is not None


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
    handovers_waiting: int  # records offered to the peer, not yet accepted


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
        handing = session.scalar(select(func.count()).select_from(HandoverRow)
                                 .where(HandoverRow.peer == region,
                                        HandoverRow.direction == "out",
                                        HandoverRow.state == OFFERED)) or 0
        found.append(LinkStatus(region, sent, acked_event, lag or 0,
                                (stamp - oldest).total_seconds() if oldest else 0.0,
                                link.received_event if link else 0,
                                link.received_at if link else None, waiting, replicas,
                                handing))
    return found
