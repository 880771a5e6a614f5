"""The outbox: one row per entitlement event, written in the transaction that made the
change (by the unit of work) or raised the notice (register.store.reviews), and read in id
order by the relay, which marks what it has published."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from register.events import EntitlementEvent
from register.store import codec
from register.store.dialect import utcnow
from register.store.orm import OutboxRow
from register.store.subscription_tables import RelayLockRow


def row_values(event: EntitlementEvent, now: datetime) -> dict[str, object]:
    """The outbox row of an event: the filter columns a subscriber's criteria need, and the
    event itself (no patient identifiers in either)."""
    return dict(event=event.event.value, entitlement_id=event.entitlement_id,
                local_authority=event.local_authority, icb=event.icb,
                payload=codec.dump(event), created_at=now)


def add(session: Session, event: EntitlementEvent) -> int:
    """One event, in the caller's transaction; its outbox id."""
    return session.execute(insert(OutboxRow).values(**row_values(event, utcnow()))
                           .returning(OutboxRow.id)).scalar_one()


def pending(session: Session) -> bool:
    """A cheap read first, so an idle relay takes no write lock."""
    return session.scalar(select(OutboxRow.id).where(OutboxRow.published_at.is_(None))
                          .limit(1)) is not None


def take(session: Session, stream: str, holder: str, limit: int,
         now: datetime) -> Sequence[OutboxRow]:
    """Lock the stream's relay row (a second relay waits here until this transaction ends,
    so batches never overlap), then the oldest unpublished rows, in id order."""
    session.execute(update(RelayLockRow).where(RelayLockRow.name == stream)
                    .values(holder=holder, locked_at=now))
    return session.scalars(select(OutboxRow).where(OutboxRow.published_at.is_(None))
                           .order_by(OutboxRow.id).limit(limit)).all()


def mark_published(session: Session, rows: Sequence[OutboxRow], now: datetime) -> None:
    session.execute(update(OutboxRow).where(OutboxRow.id.in_([r.id for r in rows]))
                    .values(published_at=now))
