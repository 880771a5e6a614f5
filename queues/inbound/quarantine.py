"""`s117 quarantine list/show/replay`: what could not be applied, and putting it through again
after the cause is fixed (a mapping profile corrected, the missing admission sent).

A replay publishes the stored message on the inbound bus as a new delivery (same partition as
any message for that person, so it keeps its place in that person's order). Its commands were
never applied (or were forgotten when a hold expired), so it is applied once; the row becomes
`resolved` when it applies, or stays `quarantined` with the new reason."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from queues import topology
from queues.inbound import store
from queues.inbound.bus import Inbound
from queues.inbound.decoders import Refused
from queues.inbound.envelope import Envelope, Result
from register.store.inbound_tables import (
    APPROVED,
    NEEDS_REVIEW,
    QUARANTINED,
    REJECTED,
    REPLAYING,
)


@dataclass(frozen=True)
class Replayed:
    id: int
    result: Result | None  # None: published to RabbitMQ, the worker applies it


def _envelope(inbound: Inbound, row: store.Stored) -> Envelope:
    partition = topology.partition_of(row.message_key)
    if row.kind not in store.TRANSPORT_KINDS:
        try:
            decoded = inbound.decoders.decode(row.routing_key, row.raw)
            partition = topology.partition_of(decoded.partition_key)
        except Refused:
            pass  # still refused: it comes back to quarantine with the reason
    transport = row.kind in store.TRANSPORT_KINDS
    return Envelope(routing_key=row.routing_key, body=row.raw, partition=partition,
                    message_id=row.message_key, received_at=row.received_at,
                    rejected=row.reason if transport else None,
                    rejected_kind=row.kind if transport else None, replay_of=row.id,
                    size=row.size)


def replay(inbound: Inbound, sessions: sessionmaker[Session], ids: list[int]
           ) -> list[Replayed]:
    out = []
    for row_id in ids:
        row = store.find(sessions, row_id)
        if row is None or row.state not in (QUARANTINED, REPLAYING):
            continue
        store.set_state(sessions, row_id, REPLAYING)
        out.append(Replayed(row_id, inbound.bus.publish(_envelope(inbound, row))))
    return out


def approve(inbound: Inbound, sessions: sessionmaker[Session], row_id: int
            ) -> Replayed | None:
    """An administrator applies a message held for review (`needs-review`): it is replayed
    and applied as it is, without the sender-authority check (register.authority) that held
    it. None if the row is not a message waiting for review."""
    row = store.find(sessions, row_id)
    if row is None or row.state != QUARANTINED or row.kind != NEEDS_REVIEW:
        return None
    store.set_state(sessions, row_id, APPROVED)
    return Replayed(row_id, inbound.bus.publish(_envelope(inbound, row)))


def reject(sessions: sessionmaker[Session], row_id: int) -> bool:
    """An administrator refuses a message held for review: it is kept, never applied."""
    row = store.find(sessions, row_id)
    if row is None or row.state != QUARANTINED or row.kind != NEEDS_REVIEW:
        return False
    store.set_state(sessions, row_id, REJECTED)
    return True


def all_ids(sessions: sessionmaker[Session]) -> list[int]:
    return [r.id for r in store.listing(sessions, QUARANTINED, limit=1_000_000)]
