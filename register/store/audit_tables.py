"""The audit trail (FHIR AuditEvent, IHE BALP style): one row for every request to the API
and every HL7 v2 message received, allowed or denied, with the resources it touched.

Append-only: the migration adds triggers that refuse UPDATE and DELETE on both tables, so
not even a bug in this program can rewrite who looked at what. Purging under a retention
policy is a database owner's maintenance step (docs/security.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from register.store.base import Base


class AuditEventRow(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))  # http | mllp
    action: Mapped[str] = mapped_column(String(1))  # C R U D E
    subtype: Mapped[str] = mapped_column(String(40))  # read, search-type, $operation ...
    outcome: Mapped[str] = mapped_column(String(2))  # 0 success, 4 minor, 8 serious failure
    status: Mapped[int | None] = mapped_column(Integer)  # the HTTP status
    agent_org: Mapped[str | None] = mapped_column(String(20), index=True)
    agent_type: Mapped[str | None] = mapped_column(String(8))
    agent_who: Mapped[str | None] = mapped_column(String(200))
    client_address: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(Text)
    # The query as sent (it may hold an NHS number: the audit is for admins only).
    query: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)  # why it was refused


class AuditEntityRow(Base):
    """A resource one audited request read, returned or wrote (`domain`), or the person it
    concerned (`patient`)."""

    __tablename__ = "audit_entity"

    audit_id: Mapped[int] = mapped_column(ForeignKey("audit_event.id"), primary_key=True)
    reference: Mapped[str] = mapped_column(String(120), primary_key=True)
    role: Mapped[str] = mapped_column(String(8))  # domain | patient

    __table_args__ = (Index("ix_audit_entity_reference", "reference"),)
