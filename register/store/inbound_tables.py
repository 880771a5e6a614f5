"""Inbound messages the register has not (yet) applied: held and quarantined ones.

The inbox (orm.InboxRow) remembers every command id applied; this table keeps the *message*
as it came (raw bytes, sender, routing key) while any of its commands waits for an earlier
fact (`held`), and when it could not be applied at all (`quarantined`, with the reason), until
it is replayed and applied (`resolved`). One row per message key (`hl7v2:<ODS>:<MSH-10>`,
`fhir:<ODS>:<Bundle.id>`, or a digest for bytes that name no message).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from register.store.base import Base

HELD, QUARANTINED, REPLAYING, RESOLVED = "held", "quarantined", "replaying", "resolved"
# A message held for an administrator (register.authority, kind NEEDS_REVIEW) is applied once
# approved (APPROVED while it is replayed, then RESOLVED) or kept as REJECTED.
APPROVED, REJECTED = "approved", "rejected"
NEEDS_REVIEW = "needs-review"


class InboundMessageRow(Base):
    __tablename__ = "inbound_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_key: Mapped[str] = mapped_column(String(300), unique=True)
    channel: Mapped[str] = mapped_column(String(20))  # hl7v2 | fhir | council
    routing_key: Mapped[str] = mapped_column(String(200))
    sender: Mapped[str] = mapped_column(String(20), index=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)  # bytes received (raw may be only the head)
    state: Mapped[str] = mapped_column(String(12), index=True)
    kind: Mapped[str] = mapped_column(String(40), default="")  # identifier-free reason label
    reason: Mapped[str] = mapped_column(Text, default="")
    command_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)  # held ones
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    received_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
