"""The inbound message store (`inbound_message`): held and quarantined messages, raw.

Writes happen either inside the register's own transaction (`record_outcome`, through
`RegisterService.handle_all(alongside=...)`), so a message is never applied without its
bookkeeping, or in a transaction of their own (`quarantine`), after the register refused
the message and rolled back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from queues.inbound.envelope import Envelope
from register.store.dialect import utcnow
from register.store.inbound_tables import (
    APPROVED,
    HELD,
    QUARANTINED,
    REPLAYING,
    RESOLVED,
    InboundMessageRow,
)

TRANSPORT_KINDS = ("too-large", "stray-bytes", "broken-frame")


@dataclass(frozen=True)
class Stored:
    """A row as the CLI shows it."""

    id: int
    message_key: str
    channel: str
    routing_key: str
    sender: str
    state: str
    kind: str
    reason: str
    size: int
    attempts: int
    received_at: datetime
    updated_at: datetime
    raw: bytes
    command_ids: list[str]

    @classmethod
    def of(cls, row: InboundMessageRow) -> Stored:
        return cls(row.id, row.message_key, row.channel, row.routing_key, row.sender,
                   row.state, row.kind, row.reason, row.size, row.attempts, row.received_at,
                   row.updated_at, row.raw, list(row.command_ids or []))


def _row(session: Session, key: str) -> InboundMessageRow | None:
    return session.scalar(select(InboundMessageRow).where(InboundMessageRow.message_key == key))


def stored_keys(session: Session, keys: list[str]) -> set[str]:
    """Which of these messages the store already holds (one query for a batch)."""
    return set(session.scalars(select(InboundMessageRow.message_key)
                               .where(InboundMessageRow.message_key.in_(keys))))


def record_outcome(session: Session, envelope: Envelope, key: str, sender: str,
                   held: list[str], held_reason: str, stored: bool = True) -> None:
    """In the register's transaction: keep a message some of whose commands are held (so
    it can be quarantined raw if its predecessor never comes); mark a quarantined or
    replayed message resolved once it applies. `stored=False`: the caller knows the store
    has no row for it (most messages), so there is nothing to read or resolve."""
    stamp = utcnow()
    if not held and not stored:
        return
    if not held:
        session.execute(update(InboundMessageRow)
                        .where(InboundMessageRow.message_key == key,
                               InboundMessageRow.state.in_((QUARANTINED, REPLAYING,
                                                            APPROVED)))
                        .values(state=RESOLVED, updated_at=stamp))
        return
    row = _row(session, key) if stored else None
    if row is None:
        session.add(InboundMessageRow(
            message_key=key, channel=envelope.channel, routing_key=envelope.routing_key,
            sender=sender, raw=envelope.body, size=envelope.size or len(envelope.body),
            state=HELD, kind="held", reason=held_reason, command_ids=held, attempts=1,
            received_at=envelope.received_at, updated_at=stamp))
    else:
        row.state, row.kind, row.reason, row.command_ids = HELD, "held", held_reason, held
        row.updated_at = stamp


def quarantine(sessions: sessionmaker[Session], envelope: Envelope, key: str, sender: str,
               kind: str, reason: str) -> int:
    """Keep a message that could not be applied; the same message again updates its row
    (reason, attempts) instead of adding one. Returns the row id."""
    for _ in range(3):
        with sessions() as session:
            row = _row(session, key)
            stamp = utcnow()
            if row is None:
                row = InboundMessageRow(
                    message_key=key, channel=envelope.channel,
                    routing_key=envelope.routing_key, sender=sender, raw=envelope.body,
                    size=envelope.size or len(envelope.body), state=QUARANTINED,
                    kind=kind[:40], reason=reason, command_ids=[], attempts=1,
                    received_at=envelope.received_at, updated_at=stamp)
                session.add(row)
            else:
                row.state, row.kind, row.reason = QUARANTINED, kind[:40], reason
                row.raw, row.size = envelope.body, envelope.size or len(envelope.body)
                row.attempts += 1
                row.updated_at = stamp
            try:
                session.commit()
            except IntegrityError:
                continue  # another process stored the same message a moment ago: update it
            return row.id
    raise RuntimeError(f"could not store quarantined message {key}")


def mark_quarantined(session: Session, row_id: int, kind: str, reason: str) -> None:
    session.execute(update(InboundMessageRow).where(InboundMessageRow.id == row_id)
                    .values(state=QUARANTINED, kind=kind, reason=reason, command_ids=[],
                            updated_at=utcnow()))


def find(sessions: sessionmaker[Session], row_id: int) -> Stored | None:
    with sessions() as session:
        row = session.get(InboundMessageRow, row_id)
        return Stored.of(row) if row else None


def listing(sessions: sessionmaker[Session], state: str | None = QUARANTINED,
            limit: int = 100, sender: str | None = None) -> list[Stored]:
    """Oldest first; `sender`: one trust's messages only (before the limit is applied)."""
    query = select(InboundMessageRow).order_by(InboundMessageRow.id).limit(limit)
    if state:
        query = query.where(InboundMessageRow.state == state)
    if sender:
        query = query.where(InboundMessageRow.sender == sender)
    with sessions() as session:
        return [Stored.of(r) for r in session.scalars(query)]


def set_state(sessions: sessionmaker[Session], row_id: int, state: str) -> None:
    with sessions() as session:
        session.execute(update(InboundMessageRow).where(InboundMessageRow.id == row_id)
                        .values(state=state, updated_at=utcnow()))
        session.commit()


def held_rows(session: Session) -> list[InboundMessageRow]:
    return list(session.scalars(select(InboundMessageRow)
                                .where(InboundMessageRow.state == HELD)
                                .order_by(InboundMessageRow.id)))
