"""The hold time: a message whose command waits for an earlier fact (a discharge before its
admission) is applied the moment that fact arrives (the register core replays held commands
after every command for the person). If it has not arrived within S117_HOLD_SECONDS, the
message goes to quarantine with the reason, so that someone looks at it, and the core forgets
the held command (so a replay applies it)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.inbound import store
from queues.inbound.envelope import Envelope
from queues.inbound.processor import DeadLetter
from register.ports import HeldCommand, UnitOfWork
from register.service import RegisterService
from register.store.dialect import utcnow
from register.store.inbound_tables import RESOLVED
from register.store.orm import HeldRow
from register.store.uow import SqlUnitOfWork

log = logging.getLogger("s117.inbound")


def _duration(seconds: int) -> str:
    if seconds and seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day{'s' if days > 1 else ''}"
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds} s"


def sweep(service: RegisterService, sessions: sessionmaker[Session], hold_seconds: int,
          dead_letter: DeadLetter | None = None) -> tuple[int, int]:
    """Resolve held messages whose commands have all been applied; quarantine those held
    longer than the hold time. Returns (resolved, quarantined)."""
    cutoff = utcnow() - timedelta(seconds=hold_seconds)
    resolved = quarantined = 0
    with sessions() as session:
        rows = store.held_rows(session)
        waiting = set(session.scalars(select(HeldRow.command_id).where(
            HeldRow.command_id.in_([i for r in rows for i in r.command_ids]))))
        expired = []
        for row in rows:
            still = [i for i in row.command_ids if i in waiting]
            if not still:
                row.state, row.updated_at = RESOLVED, utcnow()
                resolved += 1
            elif row.received_at <= cutoff:
                expired.append((row.id, still, row.routing_key, row.raw, row.message_key,
                                row.received_at))
        session.commit()
    for row_id, still, routing_key, raw, key, received in expired:
        def to_quarantine(uow: UnitOfWork, released: list[HeldCommand],
                          row_id: int = row_id) -> None:
            if not released:
                return  # applied meanwhile: the next sweep marks it resolved
            why = "; ".join(dict.fromkeys(h.reason for h in released))
            kinds = ", ".join(type(h.command).__name__ for h in released)
            store.mark_quarantined(
                cast(SqlUnitOfWork, uow).session, row_id, "held-too-long",
                f"held for {_duration(hold_seconds)} waiting for an earlier message that "
                f"never came ({why}); not applied: {kinds}")

        released = service.release_held(still, alongside=to_quarantine)
        if not released:
            continue
        quarantined += 1
        log.warning("inbound message %s held longer than %s: quarantined", row_id,
                    _duration(hold_seconds))
        if dead_letter is not None:
            dead_letter(Envelope(routing_key, raw, 0, key, received), row_id, "held-too-long")
    return resolved, quarantined
