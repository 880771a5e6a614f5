"""Tables of the federation between regional registers (docs/federation.md, migration 0014).

- `replica`: a person whose record another register owns; this register holds a read-only
  copy, with where it came from (the owner's region) and the owner's last event applied.
- `federation_cursor`: how far the publisher has read the relayed outbox.
- `federation_sent`: each event sent to each peer (the peer acknowledges by number), for
  `s117 federation status` (lag in events and seconds).
- `federation_link`: per peer, the last event acknowledged by it and received from it.
- `federation_command`: casework written here on a replica, forwarded to its owner, and the
  owner's answer (applied, or refused with the rule).
- `handover`: each time the owning register of a record moved (L3, N6), on both sides: `out`
  (this register gave it away: offered, then accepted or refused by the new owner), `in`
  (this register took it over; the old owner keeps a replica fed from here).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from register.store.base import Base
from register.store.orm import Json


class ReplicaRow(Base):
    __tablename__ = "replica"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    owner_region: Mapped[str] = mapped_column(String(8), index=True)
    owner_event: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    # A record this register owned and handed over: its own events are those up to this
    # outbox id (the owner-changed event; 0 until the publisher has sent the offer), later
    # ones are the new owner's. None: never owned here.
    owned_until: Mapped[int | None] = mapped_column(Integer)


class FederationCursorRow(Base):
    __tablename__ = "federation_cursor"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    outbox_id: Mapped[int] = mapped_column(Integer, default=0)


class FederationSentRow(Base):
    __tablename__ = "federation_sent"
    __table_args__ = (Index("ix_federation_sent_region_event", "region", "outbox_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    region: Mapped[str] = mapped_column(String(8))
    outbox_id: Mapped[int] = mapped_column(Integer)
    committed_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime] = mapped_column(DateTime)


class FederationLinkRow(Base):
    __tablename__ = "federation_link"

    region: Mapped[str] = mapped_column(String(8), primary_key=True)
    acked_event: Mapped[int] = mapped_column(Integer, default=0)
    acked_at: Mapped[datetime | None] = mapped_column(DateTime)
    received_event: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime | None] = mapped_column(DateTime)


class FederationCommandRow(Base):
    __tablename__ = "federation_command"

    command_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner_region: Mapped[str] = mapped_column(String(8), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    state: Mapped[str] = mapped_column(String(12), index=True)  # forwarded|applied|refused
    rule: Mapped[str | None] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The register the casework was written on, when it only passes through here (sent to
    # an old owner after a handover): the answer goes there too.
    reply_to: Mapped[str | None] = mapped_column(String(8))


class HandoverRow(Base):
    __tablename__ = "handover"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # out | in
    peer: Mapped[str] = mapped_column(String(8))  # the new owner (out), the old one (in)
    rule: Mapped[str] = mapped_column(String(20))  # L3 | N6
    detail: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12))  # offered | accepted | refused | taken
    # out: this register's owner-changed event (set when the offer is sent); in: the old
    # owner's, as its handover message numbered it.
    event_number: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
